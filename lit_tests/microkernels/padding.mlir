// A convolution reading a zero-padded copy of its input (a buffer filled with
// zeros, then the input copied into its interior, used by nothing else) reads the
// input itself: im2col writes the zeros of the padding, the depthwise kernel
// copies one channel at a time into a small buffer with a zero border. The fill,
// the copy and the padded buffer go away.
// RUN: dag-opt %s --split-input-file -p dagc-linalg-to-microkernels | filecheck %s

// im2col with padding 1: per input channel and window row i, the output rows
// that read inside x are ceil((1 - i) / 1) .. ceil((6 + 1 - i) / 1), clamped to
// 0 .. 6, the rest zero rows (masked vector stores of 6 zeros). For window column
// j = 0 (unrolled), output column 0 reads the padding (one zero, masked) and
// columns 1..5 read x (one masked vector load and store of 5 floats).
// CHECK-LABEL: func.func @im2col
// CHECK-NOT:     linalg.fill
// CHECK-NOT:     memref.copy
// CHECK:         memref.alloc() {alignment = 64 : i64} : memref<18x36xf32>
// CHECK-NOT:     memref.alloc
// CHECK:         arith.ceildivsi
// CHECK:         arith.maxsi
// CHECK:         arith.minsi
// CHECK:         %[[SIX:.*]] = llvm.mlir.constant(dense<[true, true, true, true, true, true, false, {{.*}}]> : vector<16xi1>)
// CHECK:         llvm.intr.masked.store %{{.*}}, %{{.*}}, %[[SIX]]
// CHECK:         %[[ONE:.*]] = llvm.mlir.constant(dense<[true, false, {{.*}}]> : vector<16xi1>)
// CHECK:         llvm.intr.masked.store %{{.*}}, %{{.*}}, %[[ONE]]
// CHECK:         %[[FIVE:.*]] = llvm.mlir.constant(dense<[true, true, true, true, true, false, {{.*}}]> : vector<16xi1>)
// CHECK:         %[[ROW:.*]] = llvm.intr.masked.load %{{.*}}, %[[FIVE]], %{{.*}} {alignment = 4 : i32} : (!llvm.ptr, vector<16xi1>, vector<16xf32>) -> vector<16xf32>
// CHECK:         llvm.intr.masked.store %[[ROW]]
// CHECK:         llvm.intr.fma
// CHECK-NOT:     linalg.
func.func @im2col(%x: memref<1x2x6x6xf32>, %w: memref<4x2x3x3xf32>, %y: memref<1x4x6x6xf32>) {
  %zero = arith.constant 0.0 : f32
  %p = memref.alloc() {alignment = 64 : i64} : memref<1x2x8x8xf32>
  linalg.fill ins(%zero : f32) outs(%p : memref<1x2x8x8xf32>)
  %s = memref.subview %p[0, 0, 1, 1] [1, 2, 6, 6] [1, 1, 1, 1] : memref<1x2x8x8xf32> to memref<1x2x6x6xf32, strided<[128, 64, 8, 1], offset: 9>>
  "memref.copy"(%x, %s) : (memref<1x2x6x6xf32>, memref<1x2x6x6xf32, strided<[128, 64, 8, 1], offset: 9>>) -> ()
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%p, %w : memref<1x2x8x8xf32>, memref<4x2x3x3xf32>) outs(%y : memref<1x4x6x6xf32>)
  memref.dealloc %p : memref<1x2x8x8xf32>
  func.return
}

// -----

// Depthwise with padding 1: a 7 x 9 buffer, zeroed once, receives each 5 x 7
// channel at (1, 1) before the kernel reads it.
// CHECK-LABEL: func.func @depthwise
// CHECK-NOT:     linalg.fill
// CHECK-NOT:     memref.copy
// CHECK:         %[[BUF:.*]] = memref.alloc() {alignment = 64 : i64} : memref<63xf32>
// CHECK:         %[[ZERO:.*]] = llvm.mlir.constant(dense<0.000000e+00> : vector<16xf32>) : vector<16xf32>
// CHECK:         llvm.intr.masked.store %[[ZERO]]
// CHECK:         scf.for
// CHECK:           llvm.intr.masked.load {{.*}} -> vector<16xf32>
// CHECK:           llvm.intr.masked.store
// CHECK:           llvm.intr.fma
// CHECK:         memref.dealloc %[[BUF]] : memref<63xf32>
// CHECK-NOT:     linalg.
func.func @depthwise(%x: memref<1x3x5x7xf32>, %w: memref<3x1x1x3x3xf32>, %y: memref<1x3x1x5x7xf32>) {
  %zero = arith.constant 0.0 : f32
  %p = memref.alloc() {alignment = 64 : i64} : memref<1x3x7x9xf32>
  linalg.fill ins(%zero : f32) outs(%p : memref<1x3x7x9xf32>)
  %s = memref.subview %p[0, 0, 1, 1] [1, 3, 5, 7] [1, 1, 1, 1] : memref<1x3x7x9xf32> to memref<1x3x5x7xf32, strided<[189, 63, 9, 1], offset: 10>>
  "memref.copy"(%x, %s) : (memref<1x3x5x7xf32>, memref<1x3x5x7xf32, strided<[189, 63, 9, 1], offset: 10>>) -> ()
  %g = memref.expand_shape %p [[0], [1, 2], [3], [4]] output_shape [1, 3, 1, 7, 9] : memref<1x3x7x9xf32> into memref<1x3x1x7x9xf32>
  linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%g, %w : memref<1x3x1x7x9xf32>, memref<3x1x1x3x3xf32>) outs(%y : memref<1x3x1x5x7xf32>)
  memref.dealloc %p : memref<1x3x7x9xf32>
  func.return
}

// -----

// The padded buffer is read again after the convolution: left as it is.
// CHECK-LABEL: func.func @read_again
// CHECK:         linalg.fill
// CHECK:         memref.copy
// CHECK:         llvm.intr.fma
// CHECK:         linalg.generic
func.func @read_again(%x: memref<1x2x6x6xf32>, %w: memref<4x2x3x3xf32>, %y: memref<1x4x6x6xf32>, %z: memref<1x2x8x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %p = memref.alloc() {alignment = 64 : i64} : memref<1x2x8x8xf32>
  linalg.fill ins(%zero : f32) outs(%p : memref<1x2x8x8xf32>)
  %s = memref.subview %p[0, 0, 1, 1] [1, 2, 6, 6] [1, 1, 1, 1] : memref<1x2x8x8xf32> to memref<1x2x6x6xf32, strided<[128, 64, 8, 1], offset: 9>>
  "memref.copy"(%x, %s) : (memref<1x2x6x6xf32>, memref<1x2x6x6xf32, strided<[128, 64, 8, 1], offset: 9>>) -> ()
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%p, %w : memref<1x2x8x8xf32>, memref<4x2x3x3xf32>) outs(%y : memref<1x4x6x6xf32>)
  linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%p : memref<1x2x8x8xf32>) outs(%z : memref<1x2x8x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    linalg.yield %v : f32
  }
  memref.dealloc %p : memref<1x2x8x8xf32>
  func.return
}
