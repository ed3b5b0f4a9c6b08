// RUN: dag-opt %s --split-input-file -p dagc-hoist-kernel-scratch | filecheck %s
// Idempotent: a hoisted kernel has no scratch left.
// RUN: dag-opt %s --split-input-file -p dagc-hoist-kernel-scratch,dagc-hoist-kernel-scratch | filecheck %s
// With the planning after it, the scratch is a view of the entry's workspace.
// RUN: dag-opt %s --split-input-file -p dagc-hoist-kernel-scratch,dagc-plan-memory,dagc-entry-workspace | filecheck %s --check-prefix=PLAN

// A kernel's top-level scratch (as the micro-kernels allocate packed panels)
// becomes noalias arguments; the caller allocates one scratch buffer for all its
// calls and passes views of it at the same offsets to each. The alloc inside the
// loop (one per iteration) stays.
// CHECK-LABEL: func.func private @kernel(
// CHECK-SAME:      %x: memref<16xf32>, %out: memref<16xf32>, %packed: memref<256xf32> {llvm.noalias}, %slots: memref<64xf32> {llvm.noalias})
// CHECK-NOT:     memref.dealloc %packed
// CHECK:         scf.for
// CHECK-NEXT:      %inner = memref.alloc()
// CHECK-LABEL: func.func @forward(
// CHECK-NEXT:    %scratch = memref.alloc() {alignment = 64 : i64} : memref<1280xi8>
// CHECK:         %[[O1:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[P1:.*]] = memref.view %scratch[%[[O1]]][] : memref<1280xi8> to memref<256xf32>
// CHECK-NEXT:    %[[O2:.*]] = arith.constant 1024 : index
// CHECK-NEXT:    %[[S1:.*]] = memref.view %scratch[%[[O2]]][] : memref<1280xi8> to memref<64xf32>
// CHECK-NEXT:    func.call @kernel(%x, %a, %[[P1]], %[[S1]])
// CHECK:         memref.view %scratch
// CHECK:         memref.view %scratch
// CHECK-NEXT:    func.call @kernel(%a, %out, %{{.*}}, %{{.*}})
// CHECK:         memref.dealloc %scratch
// CHECK-NEXT:    func.return

// With the planning: the scratch buffer is in the workspace, with %a.
// PLAN-LABEL: func.func @forward(
// PLAN-SAME:      %workspace: memref<1344xi8>)
// PLAN-SAME:      dagc.workspace_bytes = 1344 : i64
// PLAN-NOT:     memref.alloc
// PLAN:         %scratch = memref.view %workspace
// PLAN:         func.call @kernel(%x, %a, %{{.*}}, %{{.*}})
// PLAN:         func.call @kernel(%a, %out, %{{.*}}, %{{.*}})
func.func private @kernel(%x: memref<16xf32>, %out: memref<16xf32>) {
  %packed = memref.alloc() {alignment = 64 : i64} : memref<256xf32>
  %slots = memref.alloc() {alignment = 64 : i64} : memref<64xf32>
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %c2 step %c1 {
    %inner = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
    "test.op"(%inner) : (memref<4xf32>) -> ()
    memref.dealloc %inner : memref<4xf32>
  }
  "test.op"(%x, %packed, %slots, %out) : (memref<16xf32>, memref<256xf32>, memref<64xf32>, memref<16xf32>) -> ()
  memref.dealloc %packed : memref<256xf32>
  memref.dealloc %slots : memref<64xf32>
  func.return
}
func.func @forward(%x: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  func.call @kernel(%x, %a) : (memref<16xf32>, memref<16xf32>) -> ()
  func.call @kernel(%a, %out) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %a : memref<16xf32>
  func.return
}

// -----

// Left alone: a public kernel (another module may call it), one whose symbol is
// used other than by a call, one called from a function of several blocks, one
// called inside an scf.parallel (its iterations' calls would share one buffer); a
// buffer the kernel returns (never freed).
// CHECK-LABEL: func.func @public_kernel(
// CHECK-SAME:      %x: memref<16xf32>)
// CHECK-NEXT:    %p = memref.alloc()
// CHECK-LABEL: func.func private @referenced(
// CHECK-SAME:      %x: memref<16xf32>)
// CHECK-NEXT:    %p = memref.alloc()
// CHECK-LABEL: func.func private @branchy_callee(
// CHECK-SAME:      %x: memref<16xf32>)
// CHECK-NEXT:    %p = memref.alloc()
// CHECK-LABEL: func.func private @looped_callee(
// CHECK-SAME:      %x: memref<16xf32>)
// CHECK-NEXT:    %p = memref.alloc()
// CHECK-LABEL: func.func @looped(
// CHECK-NOT:     memref.view
// CHECK:         func.call @looped_callee(%x) :
// CHECK-LABEL: func.func private @returns(
// CHECK-SAME:      %x: memref<16xf32>) -> memref<16xf32>
// CHECK-NEXT:    %p = memref.alloc()
func.func @public_kernel(%x: memref<16xf32>) {
  %p = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  "test.op"(%x, %p) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %p : memref<16xf32>
  func.return
}
func.func private @referenced(%x: memref<16xf32>) {
  %p = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  "test.op"(%x, %p) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %p : memref<16xf32>
  func.return
}
func.func private @branchy_callee(%x: memref<16xf32>) {
  %p = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  "test.op"(%x, %p) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %p : memref<16xf32>
  func.return
}
func.func @branchy(%x: memref<16xf32>) {
  cf.br ^next
^next:
  func.call @branchy_callee(%x) : (memref<16xf32>) -> ()
  func.return
}
func.func private @looped_callee(%x: memref<16xf32>) {
  %p = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  "test.op"(%x, %p) : (memref<16xf32>, memref<16xf32>) -> ()
  memref.dealloc %p : memref<16xf32>
  func.return
}
func.func @looped(%x: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  "scf.parallel"(%c0, %c4, %c1) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
  ^bb0(%i: index):
    func.call @looped_callee(%x) : (memref<16xf32>) -> ()
    scf.reduce
  }) : (index, index, index) -> ()
  func.return
}
func.func private @returns(%x: memref<16xf32>) -> memref<16xf32> {
  %p = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  "test.op"(%x, %p) : (memref<16xf32>, memref<16xf32>) -> ()
  func.return %p : memref<16xf32>
}
func.func @forward(%x: memref<16xf32>) {
  func.call @public_kernel(%x) : (memref<16xf32>) -> ()
  func.call @referenced(%x) : (memref<16xf32>) -> ()
  %r = func.call @returns(%x) : (memref<16xf32>) -> memref<16xf32>
  "test.op"() {callee = @referenced} : () -> ()
  func.return
}
