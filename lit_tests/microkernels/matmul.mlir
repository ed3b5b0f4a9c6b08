// f32 matmuls become packed GEMMs whose micro-kernel keeps a 6x32 block of C in
// twelve vector<16xf32> registers; other element types are left to the loop lowering.
// RUN: dag-opt %s --split-input-file -p dagc-linalg-to-microkernels | filecheck %s

// CHECK-LABEL: func.func @matmul
// CHECK-NOT:     linalg.matmul
// CHECK:         memref.extract_aligned_pointer_as_index
// CHECK:         scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:           llvm.shufflevector
// CHECK:           llvm.intr.fma
// CHECK:         llvm.store {{.*}} : vector<16xf32>, !llvm.ptr
// CHECK:         llvm.intr.masked.load {{.*}} -> vector<16xf32>
// CHECK:         llvm.intr.masked.store
func.func @matmul(%a: memref<6x8xf32>, %b: memref<8x40xf32>, %c: memref<6x40xf32>) {
  linalg.matmul ins(%a, %b : memref<6x8xf32>, memref<8x40xf32>) outs(%c : memref<6x40xf32>)
  func.return
}

// -----

// 21 columns = 16 + 5: the 16 by one-vector micro-kernels of 12 rows (12
// accumulators), the last 5 by dot products along k: B's 5 columns copied to rows
// of the packed buffer, then per row of C one vector accumulator per column,
// each summed into one lane of a vector of C's row (a masked store of 5 lanes).
// CHECK-LABEL: func.func @edge
// CHECK:         scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:         llvm.load {{.*}} -> f32
// CHECK:         llvm.store {{.*}} : f32, !llvm.ptr
// CHECK:         scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-5:   llvm.intr.fma
// CHECK-COUNT-5: llvm.call_intrinsic "llvm.vector.reduce.fadd.v16f32"
// CHECK:         llvm.intr.masked.store
func.func @edge(%a: memref<12x40xf32>, %b: memref<40x21xf32>, %c: memref<12x21xf32>) {
  linalg.matmul ins(%a, %b : memref<12x40xf32>, memref<40x21xf32>) outs(%c : memref<12x21xf32>)
  func.return
}

// -----

// CHECK-LABEL: func.func @f64
// CHECK:         linalg.matmul
func.func @f64(%a: memref<4x8xf64>, %b: memref<8x3xf64>, %c: memref<4x3xf64>) {
  linalg.matmul ins(%a, %b : memref<4x8xf64>, memref<8x3xf64>) outs(%c : memref<4x3xf64>)
  func.return
}

// -----

// A few rows (a linear layer at batch 1) times a transposed weight: W's rows are
// read in place by dot products, 16 rows of W at a time, each summed into one lane
// of a vector of C; no transposed copy of W is made. 20 = 16 + 4: the last block
// of W has 4 rows (masked stores); 40 = 2 x 16 + 8 along k (masked loads).
// CHECK-LABEL: func.func @transposed
// CHECK-NOT:     linalg.transpose
// CHECK:         scf.for {{.*}} -> (vector<16xf32>, {{.*}})
// CHECK:           llvm.intr.fma
// CHECK:         llvm.intr.masked.load {{.*}} -> vector<16xf32>
// CHECK:         llvm.call_intrinsic "llvm.vector.reduce.fadd.v16f32"
// CHECK:         llvm.insertelement
// CHECK:         llvm.fadd {{.*}} : vector<16xf32>
// CHECK:         llvm.store
// CHECK:         llvm.intr.masked.store
// CHECK-NOT:     linalg.
func.func @transposed(%x: memref<1x40xf32>, %w: memref<20x40xf32>, %y: memref<1x20xf32>) {
  %t = memref.alloc() {alignment = 64 : i64} : memref<40x20xf32>
  linalg.transpose ins(%w : memref<20x40xf32>) outs(%t : memref<40x20xf32>) permutation = [1, 0]
  linalg.matmul ins(%x, %t : memref<1x40xf32>, memref<40x20xf32>) outs(%y : memref<1x20xf32>)
  memref.dealloc %t : memref<40x20xf32>
  func.return
}
