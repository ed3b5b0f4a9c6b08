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
// CHECK:         llvm.call_intrinsic "llvm.masked.load.v16f32.p0"
// CHECK:         llvm.intr.masked.store
func.func @matmul(%a: memref<6x8xf32>, %b: memref<8x40xf32>, %c: memref<6x40xf32>) {
  linalg.matmul ins(%a, %b : memref<6x8xf32>, memref<8x40xf32>) outs(%c : memref<6x40xf32>)
  func.return
}

// -----

// CHECK-LABEL: func.func @f64
// CHECK:         linalg.matmul
func.func @f64(%a: memref<4x8xf64>, %b: memref<8x3xf64>, %c: memref<4x3xf64>) {
  linalg.matmul ins(%a, %b : memref<4x8xf64>, memref<8x3xf64>) outs(%c : memref<4x3xf64>)
  func.return
}
