// RUN: dag-opt %s --split-input-file -p dagc-plan-memory | filecheck %s
// The pass is idempotent: a planned function is left as it is.
// RUN: dag-opt %s --split-input-file -p dagc-plan-memory,dagc-plan-memory | filecheck %s
// RUN: dag-opt %s --split-input-file -p 'dagc-plan-memory{alignment=256}' | filecheck %s --check-prefix=ALIGN
// RUN: not dag-opt %s -p 'dagc-plan-memory{alignment=48}' 2>&1 | filecheck %s --check-prefix=BAD

// A chain of three buffers, as dagc-bufferize leaves an entry function: %a and %b
// are live together (the second call reads %a and writes %b), so they get distinct
// offsets; %c starts after %a is freed and reuses its offset 0. One 128-byte arena
// replaces 64 + 64 + 64 bytes of separate allocations; the deallocs become one.

// CHECK-LABEL: func.func @chain(
// CHECK-SAME:      attributes {dagc.arena_bytes = 128 : i64, dagc.unplanned_bytes = 192 : i64}
// CHECK-NEXT:    %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<128xi8>
// CHECK-NEXT:    %[[OA:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[A:.*]] = memref.view %[[ARENA]][%[[OA]]][] : memref<128xi8> to memref<16xf32>
// CHECK-NEXT:    func.call @produce(%x, %[[A]])
// CHECK-NEXT:    %[[OB:.*]] = arith.constant 64 : index
// CHECK-NEXT:    %[[B:.*]] = memref.view %[[ARENA]][%[[OB]]][] : memref<128xi8> to memref<16xf32>
// CHECK-NEXT:    func.call @produce(%[[A]], %[[B]])
// CHECK-NEXT:    %[[OC:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[C:.*]] = memref.view %[[ARENA]][%[[OC]]][] : memref<128xi8> to memref<4x4xf32>
// CHECK-NEXT:    func.call @reshape(%[[B]], %[[C]])
// CHECK-NEXT:    func.call @consume(%[[C]], %out)
// CHECK-NEXT:    memref.dealloc %[[ARENA]] : memref<128xi8>
// CHECK-NEXT:    func.return

// With 256-byte alignment every buffer takes a multiple of 256 bytes.
// ALIGN-LABEL: func.func @chain(
// ALIGN-SAME:      attributes {dagc.arena_bytes = 512 : i64, dagc.unplanned_bytes = 768 : i64}
// ALIGN-NEXT:    memref.alloc() {alignment = 256 : i64} : memref<512xi8>
// ALIGN:         arith.constant 256 : index

// BAD: error: dagc-plan-memory: alignment must be a power of two, got 48
func.func private @produce(memref<16xf32>, memref<16xf32>)
func.func private @reshape(memref<16xf32>, memref<4x4xf32>)
func.func private @consume(memref<4x4xf32>, memref<16xf32>)
func.func @chain(%x: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  func.call @produce(%x, %a) : (memref<16xf32>, memref<16xf32>) -> ()
  %b = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  func.call @produce(%a, %b) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %a : memref<16xf32>
  %c = memref.alloc() {alignment = 64 : i64} : memref<4x4xf32>
  func.call @reshape(%b, %c) : (memref<16xf32>, memref<4x4xf32>) -> ()
  memref.dealloc %b : memref<16xf32>
  func.call @consume(%c, %out) : (memref<4x4xf32>, memref<16xf32>) -> ()
  memref.dealloc %c : memref<4x4xf32>
  func.return
}

// -----

// Greedy by size places the buffers largest first, whatever their program order:
// %big at 0; %mid, not live with %big, at 0 too; %small, live with both, after
// %big (4096).

// CHECK-LABEL: func.func @by_size(
// CHECK-SAME:      attributes {dagc.arena_bytes = 4160 : i64, dagc.unplanned_bytes = 6208 : i64}
// CHECK:         memref.alloc() {alignment = 64 : i64} : memref<4160xi8>
// CHECK:         arith.constant 0 : index
// CHECK-NEXT:    %big = memref.view {{.*}} to memref<1024xf32>
// CHECK:         arith.constant 4096 : index
// CHECK-NEXT:    %small = memref.view {{.*}} to memref<16xf32>
// CHECK:         arith.constant 0 : index
// CHECK-NEXT:    %mid = memref.view {{.*}} to memref<512xf32>
func.func private @use(memref<1024xf32>, memref<16xf32>)
func.func private @use2(memref<16xf32>, memref<512xf32>)
func.func @by_size() {
  %big = memref.alloc() {alignment = 64 : i64} : memref<1024xf32>
  %small = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  func.call @use(%big, %small) : (memref<1024xf32>, memref<16xf32>) -> ()
  memref.dealloc %big : memref<1024xf32>
  %mid = memref.alloc() {alignment = 64 : i64} : memref<512xf32>
  func.call @use2(%small, %mid) : (memref<16xf32>, memref<512xf32>) -> ()
  memref.dealloc %small : memref<16xf32>
  memref.dealloc %mid : memref<512xf32>
  func.return
}

// -----

// Not planned: an allocation inside a loop, one that is never freed (it escapes
// through the result), one with a strided layout, one with a dynamic size, and
// one whose alignment exceeds the arena's. The single plannable buffer %one is
// a view of an arena of its own (the entry's becomes the runtime's workspace).

// CHECK-LABEL: func.func @unplanned(
// CHECK-SAME:      attributes {dagc.arena_bytes = 64 : i64, dagc.unplanned_bytes = 64 : i64}
// CHECK:         %arena = memref.alloc() {alignment = 64 : i64} : memref<64xi8>
// CHECK:         %one = memref.view %arena[%{{.*}}][] : memref<64xi8> to memref<4xf32>
// CHECK:         scf.for
// CHECK-NEXT:      %inner = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
// CHECK-NEXT:      memref.dealloc %inner
// CHECK:         %kept = memref.alloc() : memref<4xf32>
// CHECK-NEXT:    %strided = memref.alloc() : memref<4xf32, strided<[1], offset: 4>>
// CHECK-NEXT:    %dynamic = memref.alloc(%n) : memref<?xf32>
// CHECK-NEXT:    %aligned = memref.alloc() {alignment = 128 : i64} : memref<4xf32>
// CHECK:         memref.dealloc %strided
// CHECK-NEXT:    memref.dealloc %dynamic
// CHECK-NEXT:    memref.dealloc %aligned
// CHECK-NEXT:    memref.dealloc %arena
// CHECK-NEXT:    func.return %kept
func.func @unplanned(%n: index) -> memref<4xf32> {
  %one = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    %inner = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
    memref.dealloc %inner : memref<4xf32>
  }
  %kept = memref.alloc() : memref<4xf32>
  %strided = memref.alloc() : memref<4xf32, strided<[1], offset: 4>>
  %dynamic = memref.alloc(%n) : memref<?xf32>
  %aligned = memref.alloc() {alignment = 128 : i64} : memref<4xf32>
  memref.dealloc %one : memref<4xf32>
  memref.dealloc %strided : memref<4xf32, strided<[1], offset: 4>>
  memref.dealloc %dynamic : memref<?xf32>
  memref.dealloc %aligned : memref<4xf32>
  func.return %kept : memref<4xf32>
}
