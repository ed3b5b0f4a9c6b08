// RUN: dag-opt %s --split-input-file -p convert-func-to-llvm | filecheck %s

// The bare pointer calling convention: memref arguments are pointers, index is
// i64; the lowered function has a plain C ABI.

// CHECK-LABEL: llvm.func @kernel(%a: !llvm.ptr, %n: i64, %x: f32) -> f32
// CHECK-NEXT:    %[[N:.*]] = builtin.unrealized_conversion_cast %n : i64 to index
// CHECK-NEXT:    %[[A:.*]] = builtin.unrealized_conversion_cast %a : !llvm.ptr to memref<4x8xf32>
// CHECK-NEXT:    %[[V:.*]] = memref.load %[[A]][%[[N]], %[[N]]] : memref<4x8xf32>
// CHECK-NEXT:    llvm.return %[[V]] : f32
func.func @kernel(%a: memref<4x8xf32>, %n: index, %x: f32) -> f32 {
  %v = memref.load %a[%n, %n] : memref<4x8xf32>
  func.return %v : f32
}

// -----

// Private functions with a body get internal linkage; declarations stay external.

// CHECK: llvm.func @external_decl(f32) -> f32
func.func private @external_decl(f32) -> f32
// CHECK: llvm.func internal @helper(%x: f32) -> f32
func.func private @helper(%x: f32) -> f32 {
  func.return %x : f32
}
// CHECK-LABEL: llvm.func @caller(
// CHECK-SAME:    %[[X:.*]]: f32) -> f32
func.func @caller(%x: f32) -> f32 {
  // CHECK: %[[H:.*]] = llvm.call @helper(%[[X]]) : (f32) -> f32
  %0 = func.call @helper(%x) : (f32) -> f32
  // CHECK: llvm.call @external_decl(%[[H]]) : (f32) -> f32
  %1 = func.call @external_decl(%0) : (f32) -> f32
  func.return %1 : f32
}

// -----

// Several results travel in a struct.

// CHECK-LABEL: llvm.func internal @pair(%x: f32, %i: i64) -> !llvm.struct<(f32, i64)>
// CHECK:         %[[U:.*]] = llvm.mlir.undef : !llvm.struct<(f32, i64)>
// CHECK-NEXT:    %[[S0:.*]] = llvm.insertvalue %x, %[[U]][0] : !llvm.struct<(f32, i64)>
// CHECK-NEXT:    %[[S1:.*]] = llvm.insertvalue %{{.*}}, %[[S0]][1] : !llvm.struct<(f32, i64)>
// CHECK-NEXT:    llvm.return %[[S1]] : !llvm.struct<(f32, i64)>
func.func private @pair(%x: f32, %i: index) -> (f32, index) {
  func.return %x, %i : f32, index
}
// CHECK-LABEL: llvm.func @use_pair(
// CHECK-SAME:    %[[X:.*]]: f32, %{{.*}}: i64) -> f32
func.func @use_pair(%x: f32, %i: index) -> f32 {
  // CHECK:      %[[R:.*]] = llvm.call @pair(%[[X]], %{{.*}}) : (f32, i64) -> !llvm.struct<(f32, i64)>
  // CHECK-NEXT: %[[F:.*]] = llvm.extractvalue %[[R]][0] : !llvm.struct<(f32, i64)>
  // CHECK-NEXT: llvm.extractvalue %[[R]][1] : !llvm.struct<(f32, i64)>
  %a, %b = func.call @pair(%x, %i) : (f32, index) -> (f32, index)
  // CHECK: llvm.return %[[F]] : f32
  func.return %a : f32
}

// -----

// llvm.* argument attributes are kept (other attributes are dropped).

// CHECK-LABEL: llvm.func @annotated(
// CHECK-SAME:    %{{.*}}: !llvm.ptr {llvm.noalias}, %{{.*}}: !llvm.ptr {llvm.noalias}, %{{.*}}: f32)
func.func @annotated(%in: memref<8xf32> {llvm.noalias}, %out: memref<8xf32> {llvm.noalias, dag.name = "y"}, %s: f32) {
  func.return
}
