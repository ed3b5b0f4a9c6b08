// REQUIRES: mlir-translate-22
// RUN: dag-opt %s -p convert-to-llvm | mlir-translate-22 --mlir-to-llvmir | filecheck %s

// MLIR's own translator accepts what convert-to-llvm produces. The library
// functions are declared in the order the lowering meets their uses.

// CHECK: @w = private constant [4 x float] [float 1.000000e+00, float 2.000000e+00, float 3.000000e+00, float 4.000000e+00], align 64
// CHECK-DAG: declare ptr @aligned_alloc(i64, i64)
// CHECK-DAG: declare float @erff(float)
// CHECK-DAG: declare void @free(ptr)
// CHECK-LABEL: define float @dot(ptr %0)
// CHECK: call ptr @aligned_alloc(i64 64, i64 64)
// CHECK: getelementptr inbounds float, ptr @w, i64
// CHECK: call float @erff(
// CHECK: call void @free(
// CHECK: ret float
"memref.global"() <{sym_name = "w", sym_visibility = "private", type = memref<4xf32>,
  initial_value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>, constant}> : () -> ()
func.func @dot(%x: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  %w = memref.get_global @w : memref<4xf32>
  %tmp = memref.alloc() : memref<4xf32>
  %s = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> (f32) {
    %a = memref.load %x[%i] : memref<4xf32>
    %b = memref.load %w[%i] : memref<4xf32>
    %p = arith.mulf %a, %b : f32
    memref.store %p, %tmp[%i] : memref<4xf32>
    %n = arith.addf %acc, %p : f32
    scf.yield %n : f32
  }
  %r = math.erf %s : f32
  memref.dealloc %tmp : memref<4xf32>
  func.return %r : f32
}
