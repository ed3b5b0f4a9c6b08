// A depthwise convolution (one input and one output channel per group) becomes a
// direct kernel: per channel, its KH x KW weights broadcast once, then per output
// row, vectors of 16 columns accumulating one fused multiply-add per tap (masked
// loads and stores for the last columns), the epilogue and the store. No im2col
// buffer. A horizontal stride of 2 loads 32 inputs (masked to the even lanes) and
// keeps the even lanes. Large ones are an scf.parallel over chunks of channels.
// RUN: dag-opt %s --split-input-file -p dagc-linalg-to-microkernels | filecheck %s

// CHECK-LABEL: func.func @relu6
// CHECK-NOT:     memref.alloc
// CHECK:         scf.for
// CHECK-COUNT-9:   llvm.shufflevector {{.*}} [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] : vector<16xf32>
// CHECK:           scf.for
// CHECK:             llvm.intr.masked.load {{.*}} -> vector<16xf32>
// CHECK-COUNT-9:     llvm.intr.fma
// CHECK:             arith.maximumf {{.*}} : vector<16xf32>
// CHECK:             arith.minimumf {{.*}} : vector<16xf32>
// CHECK:             llvm.intr.masked.store
// CHECK-NOT:     linalg.
// CHECK:         func.return
func.func @relu6(%x: memref<1x4x1x7x15xf32>, %w: memref<4x1x1x3x3xf32>, %y: memref<1x4x1x5x13xf32>) {
  linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x4x1x7x15xf32>, memref<4x1x1x3x3xf32>) outs(%y : memref<1x4x1x5x13xf32>)
  %v = memref.collapse_shape %y [[0], [1, 2], [3], [4]] : memref<1x4x1x5x13xf32> into memref<1x4x5x13xf32>
  linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs(%v : memref<1x4x5x13xf32>) {
  ^bb0(%o: f32):
    %zero = arith.constant 0.0 : f32
    %six = arith.constant 6.0 : f32
    %a = arith.maximumf %o, %zero : f32
    %b = arith.minimumf %a, %six : f32
    linalg.yield %b : f32
  }
  func.return
}

// -----

// Stride 2, 17 output columns: a full vector, then one masked to one column.
// CHECK-LABEL: func.func @stride2
// CHECK:         %[[EVEN:.*]] = llvm.mlir.constant(dense<[true, false, true, false, {{.*}}]> : vector<32xi1>) : vector<32xi1>
// CHECK:         %[[WIDE:.*]] = llvm.intr.masked.load %{{.*}}, %[[EVEN]], %{{.*}} {alignment = 4 : i32} : (!llvm.ptr, vector<32xi1>, vector<32xf32>) -> vector<32xf32>
// CHECK-NEXT:    llvm.shufflevector %[[WIDE]], %[[WIDE]] [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30] : vector<32xf32>
// CHECK:         llvm.intr.fma
// CHECK:         llvm.store {{.*}} : vector<16xf32>, !llvm.ptr
// CHECK:         llvm.mlir.constant(dense<[true, false, false, {{.*}}]> : vector<32xi1>) : vector<32xi1>
// CHECK:         llvm.intr.masked.store
func.func @stride2(%x: memref<1x2x1x9x35xf32>, %w: memref<2x1x1x3x3xf32>, %y: memref<1x2x1x4x17xf32>) {
  linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%x, %w : memref<1x2x1x9x35xf32>, memref<2x1x1x3x3xf32>) outs(%y : memref<1x2x1x4x17xf32>)
  func.return
}

// -----

// 2 x 32 channels of 56 x 56 (3.6 MFLOP): an scf.parallel over 6 balanced chunks
// of the 64 (image, channel) pairs.
// CHECK-LABEL: func.func @large
// CHECK:         %[[CHUNKS:.*]] = arith.constant 6 : index
// CHECK-NEXT:    "scf.parallel"(%{{.*}}, %[[CHUNKS]], %{{.*}})
// CHECK:           arith.divui
// CHECK:           scf.for %[[AT:.*]] = %{{.*}} to %{{.*}} step
// CHECK:             arith.divui %[[AT]]
// CHECK:             arith.remui %[[AT]]
// CHECK:             llvm.intr.fma
// CHECK:           scf.reduce
func.func @large(%x: memref<2x32x1x58x58xf32>, %w: memref<32x1x1x3x3xf32>, %y: memref<2x32x1x56x56xf32>) {
  linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<2x32x1x58x58xf32>, memref<32x1x1x3x3xf32>) outs(%y : memref<2x32x1x56x56xf32>)
  func.return
}

// -----

// Max pooling 3x3, stride 2, padding 1 (dag-to-linalg's window-max generic over
// a copy padded with -inf): the same window walk with one vector maximum per tap
// (NaN-propagating llvm.intr.maximum), each channel copied into a small buffer
// with a -inf border; the fills, the copy and the padded buffer go away.
// CHECK-LABEL: func.func @max_pool
// CHECK-NOT:     linalg.
// CHECK:         llvm.mlir.constant(dense<0xff800000> : vector<16xf32>) : vector<16xf32>
// CHECK:         scf.for
// CHECK:           llvm.shufflevector {{.*}} [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30] : vector<32xf32>
// CHECK-COUNT-9:   llvm.intr.maximum
// CHECK:           llvm.intr.masked.store
// CHECK-NOT:     linalg.
// CHECK:         func.return
func.func @max_pool(%x: memref<1x3x10x10xf32>, %y: memref<1x3x5x5xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %window = memref.alloc() : memref<3x3xf32>
  %p = memref.alloc() {alignment = 64 : i64} : memref<1x3x12x12xf32>
  linalg.fill ins(%ninf : f32) outs(%p : memref<1x3x12x12xf32>)
  %s = memref.subview %p[0, 0, 1, 1] [1, 3, 10, 10] [1, 1, 1, 1] : memref<1x3x12x12xf32> to memref<1x3x10x10xf32, strided<[432, 144, 12, 1], offset: 13>>
  "memref.copy"(%x, %s) : (memref<1x3x10x10xf32>, memref<1x3x10x10xf32, strided<[432, 144, 12, 1], offset: 13>>) -> ()
  linalg.fill ins(%ninf : f32) outs(%y : memref<1x3x5x5xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2 * 2 + d4, d3 * 2 + d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%p, %window : memref<1x3x12x12xf32>, memref<3x3xf32>) outs(%y : memref<1x3x5x5xf32>) {
  ^bb0(%in: f32, %w: f32, %acc: f32):
    %m = arith.maximumf %acc, %in : f32
    linalg.yield %m : f32
  }
  memref.dealloc %window : memref<3x3xf32>
  memref.dealloc %p : memref<1x3x12x12xf32>
  func.return
}
