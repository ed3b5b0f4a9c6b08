// The transforms of Winograd's F(2x2, 3x3) (dag.winograd_conv2d as
// convert-dag-to-linalg and dagc-bufferize leave it: an input transform, a batched
// contraction, an output transform into the bias broadcast, then a ReLU) become
// vector kernels: per input channel and row of tiles, the 4x4 input tiles of up to
// 16 tiles are read as stride-2 vectors (a masked load of every other lane of 32,
// then a shuffle of the even lanes), B^T d B is additions and subtractions, and
// the 16 planes of V are written by masked stores; per output channel and row of
// tiles, A^T m A gives two output columns of 16 tiles, interleaved by shuffles,
// with the bias (a broadcast scalar) and the ReLU applied before a masked store.
// The contraction between them becomes the packed GEMM.
// RUN: dag-opt %s --split-input-file -p dagc-linalg-to-microkernels | filecheck %s

// 5 x 6 outputs: 3 x 3 tiles, masks of 3 tiles and of 6 output columns; the
// output's fifth row (OH odd) is the first row of the last row of tiles, after
// the loop over the two whole ones. The zero-padded copy of x is folded away: the
// input transform reads x, and the padding's zeros are shifted into the vectors
// (the first column of tiles starts one column left of x).
// CHECK-LABEL: func.func @winograd_relu
// CHECK-NOT:     linalg.generic
// CHECK-NOT:     memref.copy
// CHECK:         scf.for %[[C:.*]] = %{{.*}} to %{{.*}} step
// CHECK:           "memref.extract_aligned_pointer_as_index"(%x)
// CHECK:           %[[TILES:.*]] = llvm.mlir.constant(dense<[true, true, true, false, false, false, false, false, false, false, false, false, false, false, false, false]> : vector<16xi1>)
// CHECK:           %[[LEFT:.*]] = llvm.mlir.constant(dense<[true, false, true, false, false, {{.*}}]> : vector<32xi1>)
// CHECK:           %[[ROW:.*]] = llvm.intr.masked.load %{{.*}}, %[[LEFT]], %{{.*}} : (!llvm.ptr, vector<32xi1>, vector<32xf32>) -> vector<32xf32>
// CHECK-NEXT:      %[[EVEN:.*]] = llvm.shufflevector %[[ROW]], %[[ROW]] [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30] : vector<32xf32>
// CHECK-NEXT:      %[[ZERO:.*]] = llvm.mlir.constant(dense<0.000000e+00> : vector<16xf32>)
// CHECK-NEXT:      llvm.shufflevector %[[EVEN]], %[[ZERO]] [16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14] : vector<16xf32>
// CHECK-NOT:       arith.mulf
// CHECK:           arith.subf %{{.*}} : vector<16xf32>
// CHECK-COUNT-16:  llvm.intr.masked.store %{{.*}}, %{{.*}}, %[[TILES]] {alignment = 4 : i32} : vector<16xf32>, vector<16xi1> into !llvm.ptr
// CHECK:         llvm.intr.fma
// CHECK:         scf.for %[[F:.*]] = %{{.*}} to %{{.*}} step
// CHECK:           "memref.extract_aligned_pointer_as_index"(%b)
// CHECK:           scf.for %[[TY2:.*]] = %{{.*}} to %{{.*}} step
// CHECK:             %[[COLS:.*]] = llvm.mlir.constant(dense<[true, true, true, true, true, true, false, false, false, false, false, false, false, false, false, false]> : vector<16xi1>)
// CHECK:             %[[LO:.*]] = llvm.shufflevector %[[O0:.*]], %[[O1:.*]] [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23] : vector<16xf32>
// CHECK-NEXT:        llvm.shufflevector %[[O0]], %[[O1]] [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31] : vector<16xf32>
// CHECK:             %[[BIAS:.*]] = llvm.shufflevector %{{.*}} [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] : vector<16xf32>
// CHECK:             %[[ACC:.*]] = arith.addf %[[BIAS]], %[[LO]] : vector<16xf32>
// CHECK:             %[[RELU:.*]] = arith.maximumf %[[ACC]], %{{.*}} : vector<16xf32>
// CHECK:             llvm.intr.masked.store %[[RELU]], %{{.*}}, %[[COLS]]
// CHECK:             arith.maximumf
// CHECK:             llvm.intr.masked.store
// CHECK:           }
// CHECK:           arith.maximumf
// CHECK:           llvm.intr.masked.store
// CHECK-NOT:     linalg.generic
// CHECK:         func.return
"memref.global"() <{sym_name = "bt", type = memref<4x4xf32>, initial_value = dense<[[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]> : tensor<4x4xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
"memref.global"() <{sym_name = "at", type = memref<2x4xf32>, initial_value = dense<[[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]]> : tensor<2x4xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
func.func @winograd_relu(%x: memref<1x2x5x6xf32>, %u: memref<4x4x3x2xf32>, %b: memref<3xf32>, %out: memref<1x3x5x6xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %xp = memref.alloc() {alignment = 64 : i64} : memref<1x2x8x8xf32>
  linalg.fill ins(%zero : f32) outs(%xp : memref<1x2x8x8xf32>)
  %inner = memref.subview %xp[0, 0, 1, 1] [1, 2, 5, 6] [1, 1, 1, 1] : memref<1x2x8x8xf32> to memref<1x2x5x6xf32, strided<[128, 64, 8, 1], offset: 9>>
  "memref.copy"(%x, %inner) : (memref<1x2x5x6xf32>, memref<1x2x5x6xf32, strided<[128, 64, 8, 1], offset: 9>>) -> ()
  %bt = memref.get_global @bt : memref<4x4xf32>
  %at = memref.get_global @at : memref<2x4xf32>
  %v = memref.alloc() {alignment = 64 : i64} : memref<4x4x2x1x3x3xf32>
  linalg.fill ins(%zero : f32) outs(%v : memref<4x4x2x1x3x3xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d3, d2, d4 * 2 + d6, d5 * 2 + d7)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d6)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d7)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4, d5)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%xp, %bt, %bt : memref<1x2x8x8xf32>, memref<4x4xf32>, memref<4x4xf32>) outs(%v : memref<4x4x2x1x3x3xf32>) {
  ^bb0(%d: f32, %p: f32, %q: f32, %acc: f32):
    %pq = arith.mulf %p, %q : f32
    %t = arith.mulf %pq, %d : f32
    %s = arith.addf %acc, %t : f32
    linalg.yield %s : f32
  }
  memref.dealloc %xp : memref<1x2x8x8xf32>
  %u16 = memref.collapse_shape %u [[0, 1], [2], [3]] : memref<4x4x3x2xf32> into memref<16x3x2xf32>
  %v16 = memref.collapse_shape %v [[0, 1], [2], [3, 4, 5]] : memref<4x4x2x1x3x3xf32> into memref<16x2x9xf32>
  %m = memref.alloc() {alignment = 64 : i64} : memref<16x3x9xf32>
  linalg.fill ins(%zero : f32) outs(%m : memref<16x3x9xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%u16, %v16 : memref<16x3x2xf32>, memref<16x2x9xf32>) outs(%m : memref<16x3x9xf32>) {
  ^bb0(%a: f32, %c: f32, %acc: f32):
    %p = arith.mulf %a, %c : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  memref.dealloc %v : memref<4x4x2x1x3x3xf32>
  %m6 = memref.expand_shape %m [[0, 1], [2], [3, 4, 5]] output_shape [4, 4, 3, 1, 3, 3] : memref<16x3x9xf32> into memref<4x4x3x1x3x3xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b : memref<3xf32>) outs(%out : memref<1x3x5x6xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5, d1, d0, d2 floordiv 2, d3 floordiv 2)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d2 mod 2, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d3 mod 2, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%m6, %at, %at : memref<4x4x3x1x3x3xf32>, memref<2x4xf32>, memref<2x4xf32>) outs(%out : memref<1x3x5x6xf32>) {
  ^bb0(%mv: f32, %p: f32, %q: f32, %acc: f32):
    %pq = arith.mulf %p, %q : f32
    %t = arith.mulf %pq, %mv : f32
    %s = arith.addf %acc, %t : f32
    linalg.yield %s : f32
  }
  memref.dealloc %m : memref<16x3x9xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<1x3x5x6xf32>) outs(%out : memref<1x3x5x6xf32>) {
  ^bb0(%in: f32, %o: f32):
    %c0 = arith.constant 0.000000e+00 : f32
    %r = arith.maximumf %in, %c0 : f32
    linalg.yield %r : f32
  }
  func.return
}

// -----

// A generic with the transforms' maps and body but another matrix (here B^T with
// one sign flipped) is not a Winograd transform: it stays.
// CHECK-LABEL: func.func @other_matrix
// CHECK:         linalg.fill
// CHECK-NEXT:    linalg.generic
// CHECK-NOT:     llvm.intr.masked.store
"memref.global"() <{sym_name = "not_bt", type = memref<4x4xf32>, initial_value = dense<[[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]> : tensor<4x4xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
func.func @other_matrix(%xp: memref<1x2x8x8xf32>, %v: memref<4x4x2x1x3x3xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %bt = memref.get_global @not_bt : memref<4x4xf32>
  linalg.fill ins(%zero : f32) outs(%v : memref<4x4x2x1x3x3xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d3, d2, d4 * 2 + d6, d5 * 2 + d7)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d6)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d7)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4, d5)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%xp, %bt, %bt : memref<1x2x8x8xf32>, memref<4x4xf32>, memref<4x4xf32>) outs(%v : memref<4x4x2x1x3x3xf32>) {
  ^bb0(%d: f32, %p: f32, %q: f32, %acc: f32):
    %pq = arith.mulf %p, %q : f32
    %t = arith.mulf %pq, %d : f32
    %s = arith.addf %acc, %t : f32
    linalg.yield %s : f32
  }
  func.return
}
