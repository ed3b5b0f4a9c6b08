// dag-translate --mlir-to-llvmir emits LLVM IR, weights included.
// RUN: dag-opt %s -p convert-to-llvm | dag-translate --mlir-to-llvmir | filecheck %s

// The weights are emitted as raw little-endian bytes (1.0, 2.0, 3.0, 4.0 as f32).
// CHECK: @"w" = private constant [16 x i8] c"\00\00\80?\00\00\00@\00\00@@\00\00\80@", align 64
// CHECK: define void @"scale"(ptr %{{.*}}, ptr %{{.*}})
// CHECK: fmul float
"memref.global"() <{sym_name = "w", type = memref<4xf32>, initial_value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>, constant, sym_visibility = "private"}> : () -> ()
func.func @scale(%x: memref<4xf32>, %out: memref<4xf32>) {
  %w = memref.get_global @w : memref<4xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %a = memref.load %x[%i] : memref<4xf32>
    %b = memref.load %w[%i] : memref<4xf32>
    %c = arith.mulf %a, %b : f32
    memref.store %c, %out[%i] : memref<4xf32>
  }
  func.return
}
