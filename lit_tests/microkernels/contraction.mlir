// Batched contractions (a linalg.generic with the maps and the multiply-add body
// of a matmul) become one packed GEMM per batch index; a transposed B (q @ k^T)
// has its panels packed from k's rows, 16 x 16 blocks loaded along k's rows and
// transposed in registers (four stages of 16 shuffles), and a transposed copy of a
// matmul's B (a linear layer's weight) is read in place, the copy erased.
// RUN: dag-opt %s --split-input-file -p dagc-linalg-to-microkernels | filecheck %s

// CHECK-LABEL: func.func @qk
// CHECK-NOT:     linalg.generic
// CHECK:         %[[PACK:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8192xf32>
// CHECK:         scf.for %[[Z:.*]] = %{{.*}} to %{{.*}} step
// CHECK:           "memref.extract_aligned_pointer_as_index"(%k)
// CHECK-COUNT-16:  llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr -> vector<16xf32>
// CHECK-COUNT-64:  llvm.shufflevector
// CHECK-COUNT-16:  llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : vector<16xf32>, !llvm.ptr
// CHECK:           scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:             llvm.intr.fma
// CHECK:         memref.dealloc %[[PACK]]
func.func @qk(%q: memref<2x8x16xf32>, %k: memref<2x40x16xf32>, %s: memref<2x8x40xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : memref<2x8x16xf32>, memref<2x40x16xf32>) outs(%s : memref<2x8x40xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %c, %p : f32
    linalg.yield %r : f32
  }
  func.return
}

// -----

// A large batch (3 x 2 GEMMs 128 x 128 x 64): the batch index, the row blocks and
// the column ranges of each GEMM are the dimensions of one scf.parallel (6 x 1 x
// 2 chunks), a packed panel each.
// B broadcasts along the first batch dim (stride 0).

// CHECK-LABEL: func.func @batched
// CHECK:         memref.alloc() {alignment = 64 : i64} : memref<98304xf32>
// CHECK:         "scf.parallel"
// CHECK:           arith.remui
// CHECK:           arith.divui
// CHECK:           llvm.intr.fma
// CHECK-NOT:     linalg.generic
func.func @batched(%a: memref<3x2x128x64xf32>, %b: memref<2x64x128xf32>, %c: memref<3x2x128x128xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d1, d4, d3)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%a, %b : memref<3x2x128x64xf32>, memref<2x64x128xf32>) outs(%c : memref<3x2x128x128xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %p = arith.mulf %y, %x : f32
    %r = arith.addf %p, %z : f32
    linalg.yield %r : f32
  }
  func.return
}

// -----

// Not a multiply-add: left to the loop lowering.

// CHECK-LABEL: func.func @not_contraction
// CHECK:         linalg.generic
func.func @not_contraction(%q: memref<2x8x16xf32>, %k: memref<2x40x16xf32>, %s: memref<2x8x40xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : memref<2x8x16xf32>, memref<2x40x16xf32>) outs(%s : memref<2x8x40xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.subf %a, %b : f32
    %r = arith.addf %c, %p : f32
    linalg.yield %r : f32
  }
  func.return
}

// -----

// 8 rows times a transposed copy of W: the GEMM packs its panels from W's rows;
// no transpose, the copy's buffer is left unused.

// CHECK-LABEL: func.func @linear
// CHECK-NOT:     linalg.transpose
// CHECK-NOT:     linalg.matmul
// CHECK:         "memref.extract_aligned_pointer_as_index"(%w)
// CHECK:         llvm.load %{{.*}} : !llvm.ptr -> f32
// CHECK:         llvm.intr.fma
func.func @linear(%x: memref<8x16xf32>, %w: memref<40x16xf32>, %y: memref<8x40xf32>) {
  %wt = memref.alloc() {alignment = 64 : i64} : memref<16x40xf32>
  linalg.transpose ins(%w : memref<40x16xf32>) outs(%wt : memref<16x40xf32>) permutation = [1, 0]
  linalg.matmul ins(%x, %wt : memref<8x16xf32>, memref<16x40xf32>) outs(%y : memref<8x40xf32>)
  memref.dealloc %wt : memref<16x40xf32>
  func.return
}

// -----

// softmax(s) @ v with the softmax fused into the product: exp(s - max) / sum is
// computed once per element of s into a new buffer (the loops it names), before
// the zero fill of the output, which the GEMM absorbs; the GEMM reads the buffer.

// CHECK-LABEL: func.func @softmax_v
// CHECK:         %[[P:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x8x24xf32>
// CHECK-NEXT:    linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s, %max, %sum : memref<2x8x24xf32>, memref<2x8xf32>, memref<2x8xf32>) outs(%[[P]] : memref<2x8x24xf32>)
// CHECK:           math.exp
// CHECK:           arith.divf
// CHECK-NOT:     linalg.fill
// CHECK-NOT:     linalg.generic
// CHECK:         "memref.extract_aligned_pointer_as_index"(%[[P]])
// CHECK:         llvm.intr.fma
// CHECK:         memref.dealloc %[[P]]
func.func @softmax_v(%s: memref<2x8x24xf32>, %max: memref<2x8xf32>, %sum: memref<2x8xf32>, %v: memref<2x24x32xf32>, %o: memref<2x8x32xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  linalg.fill ins(%zero : f32) outs(%o : memref<2x8x32xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%s, %max, %sum, %v : memref<2x8x24xf32>, memref<2x8xf32>, memref<2x8xf32>, memref<2x24x32xf32>) outs(%o : memref<2x8x32xf32>) {
  ^bb0(%x: f32, %m: f32, %t: f32, %y: f32, %acc: f32):
    %d = arith.subf %x, %m : f32
    %e = math.exp %d : f32
    %p = arith.divf %e, %t : f32
    %q = arith.mulf %p, %y : f32
    %r = arith.addf %acc, %q : f32
    linalg.yield %r : f32
  }
  func.return
}

// -----

// A causal mask in the fused multiplicand: its linalg.index of loop 2 (the
// reduction dim, the key) is loop 1 of the multiplicand's loop nest.

// CHECK-LABEL: func.func @causal
// CHECK:         %[[P:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8x24xf32>
// CHECK-NEXT:    linalg.generic {{.*}} ins(%s : memref<8x24xf32>) outs(%[[P]] : memref<8x24xf32>)
// CHECK:           linalg.index 0 : index
// CHECK:           linalg.index 1 : index
// CHECK:           arith.select
// CHECK-NOT:     linalg.generic
// CHECK:         llvm.intr.fma
func.func @causal(%s: memref<8x24xf32>, %v: memref<24x32xf32>, %o: memref<8x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%s, %v : memref<8x24xf32>, memref<24x32xf32>) outs(%o : memref<8x32xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 2 : index
    %later = arith.cmpi ugt, %j, %i : index
    %zero = arith.constant 0.000000e+00 : f32
    %p = arith.select %later, %zero, %x : f32
    %q = arith.mulf %p, %y : f32
    %r = arith.addf %acc, %q : f32
    linalg.yield %r : f32
  }
  func.return
}
