// RUN: dag-opt %s --split-input-file -p convert-memref-to-llvm | filecheck %s

// Bare pointers: a memref is one !llvm.ptr, the element index is computed from
// the static strides and offset of its type.

// CHECK-LABEL: func.func @load_store
func.func @load_store(%m: memref<4x8xf32>, %i: index, %j: index) {
  // CHECK:      %[[P:.*]] = builtin.unrealized_conversion_cast %m : memref<4x8xf32> to !llvm.ptr
  // CHECK-NEXT: %[[I:.*]] = builtin.unrealized_conversion_cast %i : index to i64
  // CHECK-NEXT: %[[J:.*]] = builtin.unrealized_conversion_cast %j : index to i64
  // CHECK-NEXT: %[[STRIDE:.*]] = llvm.mlir.constant(8) : i64
  // CHECK-NEXT: %[[ROW:.*]] = llvm.mul %[[I]], %[[STRIDE]] overflow<nsw,nuw> : i64
  // CHECK-NEXT: %[[IDX:.*]] = llvm.add %[[ROW]], %[[J]] overflow<nsw,nuw> : i64
  // CHECK-NEXT: %[[ADDR:.*]] = llvm.getelementptr inbounds %[[P]][%[[IDX]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
  // CHECK-NEXT: %[[V:.*]] = llvm.load %[[ADDR]] : !llvm.ptr -> f32
  %v = memref.load %m[%i, %j] : memref<4x8xf32>
  // CHECK:      llvm.getelementptr inbounds
  // CHECK-NEXT: llvm.store %[[V]], %{{.*}} : f32, !llvm.ptr
  memref.store %v, %m[%j, %i] : memref<4x8xf32>
  func.return
}

// -----

// A subview only changes the type: the pointer passes through, and loads
// through the view add its static offset.

// CHECK-LABEL: func.func @subview
func.func @subview(%m: memref<4x8xf32>, %i: index) -> f32 {
  // CHECK-NOT:  memref.subview
  %s = memref.subview %m[1, 2] [2, 4] [1, 1]
      : memref<4x8xf32> to memref<2x4xf32, strided<[8, 1], offset: 10>>
  // CHECK:      %[[OFF:.*]] = llvm.mlir.constant(10) : i64
  // CHECK-NEXT: %[[IDX:.*]] = llvm.add %{{.*}}, %[[OFF]] overflow<nsw,nuw> : i64
  // CHECK-NEXT: llvm.getelementptr inbounds %{{.*}}[%[[IDX]]]
  %v = memref.load %s[%i, %i] : memref<2x4xf32, strided<[8, 1], offset: 10>>
  func.return %v : f32
}

// -----

// alloc -> aligned_alloc with the size rounded up to the alignment; dealloc ->
// free; alloca -> llvm.alloca.

// CHECK-DAG: llvm.func @free(!llvm.ptr)
// CHECK-DAG: llvm.func @aligned_alloc(i64, i64) -> !llvm.ptr
// CHECK-LABEL: func.func @allocs
func.func @allocs() {
  // CHECK:      %[[ALIGN:.*]] = llvm.mlir.constant(64) : i64
  // CHECK-NEXT: %[[SIZE:.*]] = llvm.mlir.constant(64) : i64
  // CHECK-NEXT: %[[BUF:.*]] = llvm.call @aligned_alloc(%[[ALIGN]], %[[SIZE]]) : (i64, i64) -> !llvm.ptr
  %a = memref.alloc() : memref<3x5xf32>
  // CHECK:      %[[N:.*]] = llvm.mlir.constant(6) : i64
  // CHECK-NEXT: llvm.alloca %[[N]] x i32 {alignment = 16 : i64} : (i64) -> !llvm.ptr
  %b = memref.alloca() {alignment = 16 : i64} : memref<2x3xi32>
  // CHECK: llvm.call @free(%{{.*}}) : (!llvm.ptr) -> ()
  memref.dealloc %a : memref<3x5xf32>
  func.return
}

// -----

// A view of a byte array (an arena of dagc-plan-memory) is the array's pointer
// advanced by the byte shift: a GEP on i8. Loads through it index the view's own
// type.

// CHECK-LABEL: func.func @view
func.func @view(%arena: memref<256xi8>, %i: index) -> f32 {
  // CHECK:      %[[BASE:.*]] = builtin.unrealized_conversion_cast %arena : memref<256xi8> to !llvm.ptr
  // CHECK-NEXT: %[[SHIFT:.*]] = builtin.unrealized_conversion_cast %shift : index to i64
  // CHECK-NEXT: %[[VIEW:.*]] = llvm.getelementptr inbounds %[[BASE]][%[[SHIFT]]] : (!llvm.ptr, i64) -> !llvm.ptr, i8
  %shift = arith.constant 128 : index
  %v = memref.view %arena[%shift][] : memref<256xi8> to memref<4x8xf32>
  // CHECK-NEXT: builtin.unrealized_conversion_cast %[[VIEW]] : !llvm.ptr to memref<4x8xf32>
  // CHECK:      %[[IDX:.*]] = llvm.add
  // CHECK-NEXT: llvm.getelementptr inbounds %[[VIEW]][%[[IDX]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
  %x = memref.load %v[%i, %i] : memref<4x8xf32>
  func.return %x : f32
}

// -----

// A global is a flat, 64-byte aligned array; get_global is its address.

// CHECK: llvm.mlir.global private constant @w(dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>) {addr_space = 0 : i32, alignment = 64 : i64} : !llvm.array<4 x f32>
"memref.global"() <{sym_name = "w", sym_visibility = "private", type = memref<2x2xf32>,
  initial_value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>, constant}> : () -> ()
// CHECK-LABEL: func.func @weights
func.func @weights() -> memref<2x2xf32> {
  // CHECK: %[[W:.*]] = llvm.mlir.addressof @w : !llvm.ptr
  // CHECK: builtin.unrealized_conversion_cast %[[W]] : !llvm.ptr to memref<2x2xf32>
  %w = memref.get_global @w : memref<2x2xf32>
  func.return %w : memref<2x2xf32>
}

// -----

// A copy between contiguous memrefs is a memcpy of the bytes; between strided
// ones, a call to a generated loop.

// CHECK-LABEL: func.func @copies
func.func @copies(%a: memref<4x4xf32>, %b: memref<4x4xf32>, %c: memref<2x2xf32>) {
  // CHECK: %[[SIZE:.*]] = llvm.mlir.constant(64) : i64
  // CHECK: "llvm.intr.memcpy"(%{{.*}}, %{{.*}}, %[[SIZE]]) <{isVolatile = false}> : (!llvm.ptr, !llvm.ptr, i64) -> ()
  "memref.copy"(%a, %b) : (memref<4x4xf32>, memref<4x4xf32>) -> ()
  %s = memref.subview %a[1, 1] [2, 2] [1, 1]
      : memref<4x4xf32> to memref<2x2xf32, strided<[4, 1], offset: 5>>
  // CHECK: llvm.call @__dagc_copy_0(%{{.*}}, %{{.*}}) : (!llvm.ptr, !llvm.ptr) -> ()
  "memref.copy"(%s, %c) : (memref<2x2xf32, strided<[4, 1], offset: 5>>, memref<2x2xf32>) -> ()
  func.return
}
// CHECK: llvm.func internal @__dagc_copy_0(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK: llvm.udiv
// CHECK: llvm.urem
// CHECK: llvm.load
// CHECK: llvm.store
