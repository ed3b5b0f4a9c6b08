// A batch of Winograd convolutions whose transformed input V and GEMM products M
// exceed `winograd_group_bytes` (here 2 images of 2880 bytes each against 3000)
// runs a group of images at a time: one scf.for over the groups holds the input
// transform of the group's images (x read at the group's first image), the 16
// GEMMs on the group's columns of V and M (their first 1 x 9 tiles per channel,
// laid out contiguously in V's and M's buffers), and the output transform with the
// bias and the ReLU fused, writing the group's images of the output. The buffers'
// deallocations move after the loop.
// RUN: dag-opt %s -p 'dagc-linalg-to-microkernels{winograd_group_bytes=3000}' | filecheck %s
// RUN: dag-opt %s -p 'dagc-linalg-to-microkernels{winograd_group_bytes=6000}' | filecheck %s --check-prefix=WHOLE

// The zero-padded copy of x is folded away: the input transform reads x itself.
// CHECK-LABEL: func.func @winograd_groups
// CHECK-NOT:     memref.copy
// CHECK:         %[[V:.*]] = memref.alloc() {{.*}} : memref<4x4x2x2x3x3xf32>
// CHECK:         %[[M:.*]] = memref.alloc() {{.*}} : memref<16x3x18xf32>
// CHECK-NOT:     linalg.generic
// CHECK:         %[[GROUPS:.*]] = arith.constant 2 : index
// CHECK:         scf.for %[[G:.*]] = %{{.*}} to %[[GROUPS]] step
// CHECK:           scf.for %[[C:.*]] = %{{.*}} to %{{.*}} step
// CHECK:             "memref.extract_aligned_pointer_as_index"(%x)
// CHECK-NEXT:        arith.index_cast
// CHECK-NEXT:        llvm.inttoptr
// CHECK-NEXT:        arith.constant 60 : index
// CHECK-NEXT:        arith.muli %[[G]], %{{.*}} : index
// CHECK:             "memref.extract_aligned_pointer_as_index"(%[[V]])
// CHECK:             llvm.intr.masked.store
// CHECK:           scf.for %[[P:.*]] = %{{.*}} to %{{.*}} step
// CHECK:             llvm.intr.fma
// CHECK:           scf.for %[[F:.*]] = %{{.*}} to %{{.*}} step
// CHECK:             arith.maximumf
// CHECK:             llvm.intr.masked.store
// CHECK:         memref.dealloc %[[V]]
// CHECK-NEXT:    memref.dealloc %[[M]]
// CHECK-NEXT:    func.return
// CHECK-NOT:     linalg.generic

// Within the bound, the three steps stay apart (and the GEMMs come between the
// transforms, where the contraction was).
// WHOLE-LABEL: func.func @winograd_groups
// WHOLE-NOT:     memref.dealloc %xp
// WHOLE:         llvm.intr.fma
// WHOLE:         memref.dealloc %v
// WHOLE:         arith.maximumf
// WHOLE:         memref.dealloc %m
"memref.global"() <{sym_name = "bt", type = memref<4x4xf32>, initial_value = dense<[[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]> : tensor<4x4xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
"memref.global"() <{sym_name = "at", type = memref<2x4xf32>, initial_value = dense<[[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]]> : tensor<2x4xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
func.func @winograd_groups(%x: memref<2x2x5x6xf32>, %u: memref<4x4x3x2xf32>, %b: memref<3xf32>, %out: memref<2x3x5x6xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %xp = memref.alloc() {alignment = 64 : i64} : memref<2x2x8x8xf32>
  linalg.fill ins(%zero : f32) outs(%xp : memref<2x2x8x8xf32>)
  %inner = memref.subview %xp[0, 0, 1, 1] [2, 2, 5, 6] [1, 1, 1, 1] : memref<2x2x8x8xf32> to memref<2x2x5x6xf32, strided<[128, 64, 8, 1], offset: 9>>
  "memref.copy"(%x, %inner) : (memref<2x2x5x6xf32>, memref<2x2x5x6xf32, strided<[128, 64, 8, 1], offset: 9>>) -> ()
  %bt = memref.get_global @bt : memref<4x4xf32>
  %at = memref.get_global @at : memref<2x4xf32>
  %v = memref.alloc() {alignment = 64 : i64} : memref<4x4x2x2x3x3xf32>
  linalg.fill ins(%zero : f32) outs(%v : memref<4x4x2x2x3x3xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d3, d2, d4 * 2 + d6, d5 * 2 + d7)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d6)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d7)>, affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4, d5)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%xp, %bt, %bt : memref<2x2x8x8xf32>, memref<4x4xf32>, memref<4x4xf32>) outs(%v : memref<4x4x2x2x3x3xf32>) {
  ^bb0(%d: f32, %p: f32, %q: f32, %acc: f32):
    %pq = arith.mulf %p, %q : f32
    %t = arith.mulf %pq, %d : f32
    %s = arith.addf %acc, %t : f32
    linalg.yield %s : f32
  }
  memref.dealloc %xp : memref<2x2x8x8xf32>
  %u16 = memref.collapse_shape %u [[0, 1], [2], [3]] : memref<4x4x3x2xf32> into memref<16x3x2xf32>
  %v16 = memref.collapse_shape %v [[0, 1], [2], [3, 4, 5]] : memref<4x4x2x2x3x3xf32> into memref<16x2x18xf32>
  %m = memref.alloc() {alignment = 64 : i64} : memref<16x3x18xf32>
  linalg.fill ins(%zero : f32) outs(%m : memref<16x3x18xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%u16, %v16 : memref<16x3x2xf32>, memref<16x2x18xf32>) outs(%m : memref<16x3x18xf32>) {
  ^bb0(%a: f32, %c: f32, %acc: f32):
    %p = arith.mulf %a, %c : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  memref.dealloc %v : memref<4x4x2x2x3x3xf32>
  %m6 = memref.expand_shape %m [[0, 1], [2], [3, 4, 5]] output_shape [4, 4, 3, 2, 3, 3] : memref<16x3x18xf32> into memref<4x4x3x2x3x3xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b : memref<3xf32>) outs(%out : memref<2x3x5x6xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5, d1, d0, d2 floordiv 2, d3 floordiv 2)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d2 mod 2, d4)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d3 mod 2, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%m6, %at, %at : memref<4x4x3x2x3x3xf32>, memref<2x4xf32>, memref<2x4xf32>) outs(%out : memref<2x3x5x6xf32>) {
  ^bb0(%mv: f32, %p: f32, %q: f32, %acc: f32):
    %pq = arith.mulf %p, %q : f32
    %t = arith.mulf %pq, %mv : f32
    %s = arith.addf %acc, %t : f32
    linalg.yield %s : f32
  }
  memref.dealloc %m : memref<16x3x18xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<2x3x5x6xf32>) outs(%out : memref<2x3x5x6xf32>) {
  ^bb0(%in: f32, %o: f32):
    %c0 = arith.constant 0.000000e+00 : f32
    %r = arith.maximumf %in, %c0 : f32
    linalg.yield %r : f32
  }
  func.return
}

