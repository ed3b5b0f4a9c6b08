// RUN: dag-opt %s --split-input-file -p convert-cf-to-llvm | filecheck %s

// Branches become llvm branches; the arguments of their destination blocks get
// llvm types (index -> i64).

// CHECK-LABEL: func.func @loop
func.func @loop(%n: index) -> index {
  %c0 = arith.constant 0 : index
  // CHECK: %[[C0:.*]] = builtin.unrealized_conversion_cast %c0 : index to i64
  // CHECK: llvm.br ^[[HEADER:.*]](%[[C0]] : i64)
  cf.br ^header(%c0 : index)
// CHECK: ^[[HEADER]](%[[I:.*]]: i64):
// CHECK-NEXT: %[[II:.*]] = builtin.unrealized_conversion_cast %[[I]] : i64 to index
^header(%i: index):
  %more = arith.cmpi slt, %i, %n : index
  // CHECK: llvm.cond_br %{{.*}}, ^[[BODY:.*]], ^[[EXIT:.*]]
  cf.cond_br %more, ^body, ^exit
// CHECK: ^[[BODY]]:
^body:
  %c1 = arith.constant 1 : index
  %next = arith.addi %i, %c1 : index
  cf.br ^header(%next : index)
// CHECK: ^[[EXIT]]:
// CHECK-NEXT: func.return %[[II]] : index
^exit:
  func.return %i : index
}

// -----

// A switch is a chain of comparisons.

// CHECK-LABEL: func.func @switch
func.func @switch(%flag: i32, %x: f32, %y: f32) -> f32 {
  // CHECK:      %[[ONE:.*]] = llvm.mlir.constant(1 : i32) : i32
  // CHECK-NEXT: %[[IS1:.*]] = llvm.icmp "eq" %flag, %[[ONE]] : i32
  // CHECK-NEXT: llvm.cond_br %[[IS1]], ^[[DONE:.*]](%x : f32), ^[[NEXT:.*]]
  // CHECK-NEXT: ^[[NEXT]]:
  // CHECK-NEXT: %[[FIVE:.*]] = llvm.mlir.constant(5 : i32) : i32
  // CHECK-NEXT: %[[IS5:.*]] = llvm.icmp "eq" %flag, %[[FIVE]] : i32
  // CHECK-NEXT: llvm.cond_br %[[IS5]], ^[[DONE]](%y : f32), ^[[DONE]](%x : f32)
  cf.switch %flag : i32, [
    default: ^done(%x : f32),
    1: ^done(%x : f32),
    5: ^done(%y : f32)
  ]
^done(%r: f32):
  func.return %r : f32
}

// -----

// A failing assert prints its message and aborts.

// CHECK: llvm.mlir.global private constant @__dagc_assert_msg_0("bad input\00")
// CHECK-LABEL: func.func @check
func.func @check(%ok: i1) {
  // CHECK:      llvm.cond_br %ok, ^[[CONTINUE:.*]], ^[[FAIL:.*]]
  // CHECK-NEXT: ^[[FAIL]]:
  // CHECK-NEXT: %[[MSG:.*]] = llvm.mlir.addressof @__dagc_assert_msg_0 : !llvm.ptr
  // CHECK-NEXT: llvm.call @puts(%[[MSG]]) : (!llvm.ptr) -> i32
  // CHECK-NEXT: llvm.call @abort() : () -> ()
  // CHECK-NEXT: llvm.unreachable
  // CHECK-NEXT: ^[[CONTINUE]]:
  // CHECK-NEXT: func.return
  cf.assert %ok, "bad input"
  func.return
}
