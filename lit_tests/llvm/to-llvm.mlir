// RUN: dag-opt %s -p convert-to-llvm | filecheck %s

// The whole pipeline: scf loops, arith, math, memref and func end as llvm ops
// only, with no casts left.

// CHECK-NOT: builtin.unrealized_conversion_cast
// CHECK-LABEL: llvm.func @relu_exp(
// CHECK-SAME:    %[[X:.*]]: !llvm.ptr, %[[Y:.*]]: !llvm.ptr)
// CHECK:         llvm.br ^[[HEADER:.*]](%{{.*}} : i64)
// CHECK:       ^[[HEADER]](%[[I:.*]]: i64):
// CHECK:         llvm.icmp "slt" %[[I]]
// CHECK:         %[[ADDR:.*]] = llvm.getelementptr inbounds %[[X]][%[[I]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK:         %[[V:.*]] = llvm.load %[[ADDR]] : !llvm.ptr -> f32
// CHECK:         %[[M:.*]] = llvm.intr.maximum(%[[V]], %{{.*}}) : (f32, f32) -> f32
// CHECK:         %[[E:.*]] = llvm.intr.exp(%[[M]]) : (f32) -> f32
// CHECK:         llvm.store %[[E]], %{{.*}} : f32, !llvm.ptr
// CHECK:         llvm.return
// CHECK-NOT: builtin.unrealized_conversion_cast
func.func @relu_exp(%x: memref<16xf32>, %y: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c16 step %c1 {
    %v = memref.load %x[%i] : memref<16xf32>
    %m = arith.maximumf %v, %zero : f32
    %e = math.exp %m : f32
    memref.store %e, %y[%i] : memref<16xf32>
  }
  func.return
}
