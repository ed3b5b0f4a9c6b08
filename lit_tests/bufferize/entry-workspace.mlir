// RUN: dag-opt %s --split-input-file -p dagc-plan-memory,dagc-entry-workspace | filecheck %s
// The pass is idempotent: an entry with a workspace has no arena left to move.
// RUN: dag-opt %s --split-input-file -p dagc-plan-memory,dagc-entry-workspace,dagc-entry-workspace | filecheck %s

// The entry's arena (dagc-plan-memory's first alloc, 128 bytes) becomes its last
// argument, which the runtime allocates once and passes to every call; its views
// stay, its dealloc goes, and dagc.workspace_bytes records its size.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME:      %x: memref<16xf32>, %out: memref<16xf32>, %workspace: memref<128xi8>)
// CHECK-SAME:      dagc.workspace_bytes = 128 : i64
// CHECK-NOT:     memref.alloc
// CHECK:         memref.view %workspace[%{{.*}}][] : memref<128xi8> to memref<16xf32>
// CHECK:         memref.view %workspace[%{{.*}}][] : memref<128xi8> to memref<16xf32>
// CHECK-NOT:     memref.dealloc
// CHECK:         func.return
func.func private @produce(memref<16xf32>, memref<16xf32>)
func.func @forward(%x: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  func.call @produce(%x, %a) : (memref<16xf32>, memref<16xf32>) -> ()
  %b = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  func.call @produce(%a, %b) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %a : memref<16xf32>
  func.call @produce(%b, %out) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %b : memref<16xf32>
  func.return
}

// -----

// Only the entry point: a kernel keeps its arena, allocated by each call.
// CHECK-LABEL: func.func @kernel(
// CHECK-NOT:       dagc.workspace_bytes
// CHECK:         memref.alloc() {alignment = 64 : i64} : memref<128xi8>
// CHECK:         memref.dealloc
func.func private @produce(memref<16xf32>, memref<16xf32>)
func.func @kernel(%x: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  func.call @produce(%x, %a) : (memref<16xf32>, memref<16xf32>) -> ()
  %b = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  func.call @produce(%a, %b) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %a : memref<16xf32>
  func.call @produce(%b, %out) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %b : memref<16xf32>
  func.return
}

// -----

// One intermediate: its arena is a workspace too, allocated once.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME:      %x: memref<16xf32>, %out: memref<16xf32>, %workspace: memref<64xi8>)
// CHECK-SAME:      dagc.workspace_bytes = 64 : i64
// CHECK-NOT:     memref.alloc
// CHECK:         memref.view %workspace[%{{.*}}][] : memref<64xi8> to memref<16xf32>
func.func private @produce(memref<16xf32>, memref<16xf32>)
func.func @forward(%x: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  func.call @produce(%x, %a) : (memref<16xf32>, memref<16xf32>) -> ()
  func.call @produce(%a, %out) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %a : memref<16xf32>
  func.return
}

// -----

// No intermediate: no arena, no workspace.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME:      %x: memref<16xf32>, %out: memref<16xf32>)
// CHECK-NOT:       dagc.workspace_bytes
func.func private @produce(memref<16xf32>, memref<16xf32>)
func.func @forward(%x: memref<16xf32>, %out: memref<16xf32>) {
  func.call @produce(%x, %out) : (memref<16xf32>, memref<16xf32>) -> ()
  func.return
}
