// RUN: dag-opt %s --split-input-file -p convert-arith-to-llvm | filecheck %s

// Integer arithmetic maps to the llvm instruction of the same name; overflow
// flags are kept.

// CHECK-LABEL: func.func @int_binary
func.func @int_binary(%a: i32, %b: i32) -> i32 {
  // CHECK: %[[ADD:.*]] = llvm.add %a, %b overflow<nsw> : i32
  %0 = arith.addi %a, %b overflow<nsw> : i32
  // CHECK: %[[MUL:.*]] = llvm.mul %[[ADD]], %b : i32
  %1 = arith.muli %0, %b : i32
  // CHECK: %[[DIV:.*]] = llvm.sdiv %[[MUL]], %a : i32
  %2 = arith.divsi %1, %a : i32
  // CHECK: %[[REM:.*]] = llvm.urem %[[DIV]], %b : i32
  %3 = arith.remui %2, %b : i32
  // CHECK: %[[SHR:.*]] = llvm.ashr %[[REM]], %a : i32
  %4 = arith.shrsi %3, %a : i32
  // CHECK: %[[XOR:.*]] = llvm.xor %[[SHR]], %b : i32
  %5 = arith.xori %4, %b : i32
  // CHECK: func.return %[[XOR]] : i32
  func.return %5 : i32
}

// -----

// Min/max become a compare and a select; floordivsi is expanded as in MLIR's
// arith-expand.

// CHECK-LABEL: func.func @int_expanded
func.func @int_expanded(%a: i64, %b: i64) -> i64 {
  // CHECK:      %[[CMP:.*]] = llvm.icmp "sgt" %a, %b : i64
  // CHECK-NEXT: %[[MAX:.*]] = llvm.select %[[CMP]], %a, %b : i1, i64
  %0 = arith.maxsi %a, %b : i64
  // CHECK:      %[[Q:.*]] = llvm.sdiv %[[MAX]], %b : i64
  // CHECK-NEXT: %[[P:.*]] = llvm.mul %[[Q]], %b : i64
  // CHECK-NEXT: %[[INEXACT:.*]] = llvm.icmp "ne" %[[MAX]], %[[P]] : i64
  // CHECK:      %[[OPPOSITE:.*]] = llvm.icmp "ne"
  // CHECK-NEXT: %[[DOWN:.*]] = llvm.and %[[INEXACT]], %[[OPPOSITE]] : i1
  // CHECK-NEXT: %[[QM1:.*]] = llvm.add %[[Q]]
  // CHECK-NEXT: %[[R:.*]] = llvm.select %[[DOWN]], %[[QM1]], %[[Q]] : i1, i64
  %1 = arith.floordivsi %0, %b : i64
  // CHECK: func.return %[[R]]
  func.return %1 : i64
}

// -----

// index is i64: index values reach llvm ops through unrealized casts that
// reconcile-unrealized-casts removes once every edge has run. An operand that is
// a cast from its llvm type (a result lowered already) is used uncast.

// CHECK-LABEL: func.func @index_ops
func.func @index_ops(%i: index, %n: i32) -> index {
  // CHECK: %[[C:.*]] = llvm.mlir.constant(4) : i64
  // CHECK: builtin.unrealized_conversion_cast %[[C]] : i64 to index
  %c4 = arith.constant 4 : index
  // CHECK: %[[I:.*]] = builtin.unrealized_conversion_cast %i : index to i64
  // CHECK: %[[ADD:.*]] = llvm.add %[[I]], %[[C]] : i64
  %0 = arith.addi %i, %c4 : index
  // CHECK: %[[EXT:.*]] = llvm.sext %n : i32 to i64
  %1 = arith.index_cast %n : i32 to index
  // CHECK: llvm.mul %[[ADD]], %[[EXT]] : i64
  %2 = arith.muli %0, %1 : index
  func.return %2 : index
}

// -----

// Float arithmetic keeps its fastmath flags; maximumf/minimumf propagate NaN
// (llvm.intr.maximum/minimum), maxnumf/minnumf ignore it (maxnum/minnum).

// CHECK-LABEL: func.func @float_ops
func.func @float_ops(%x: f32, %y: f32) -> f32 {
  // CHECK: %[[ADD:.*]] = llvm.fadd %x, %y {fastmathFlags = #llvm.fastmath<contract>} : f32
  %0 = arith.addf %x, %y fastmath<contract> : f32
  // CHECK: %[[MAX:.*]] = llvm.intr.maximum(%[[ADD]], %y) : (f32, f32) -> f32
  %1 = arith.maximumf %0, %y : f32
  // CHECK: %[[MIN:.*]] = llvm.intr.minnum(%[[MAX]], %x) : (f32, f32) -> f32
  %2 = arith.minnumf %1, %x : f32
  // CHECK: %[[NEG:.*]] = llvm.fneg %[[MIN]] : f32
  %3 = arith.negf %2 : f32
  // CHECK: %[[CMP:.*]] = llvm.fcmp "ult" %[[NEG]], %x : f32
  %4 = arith.cmpf ult, %3, %x : f32
  // CHECK: llvm.select %[[CMP]], %[[NEG]], %y : i1, f32
  %5 = arith.select %4, %3, %y : f32
  func.return %5 : f32
}

// -----

// CHECK-LABEL: func.func @casts
func.func @casts(%x: f32, %i: i32) -> f64 {
  // CHECK: %[[SI:.*]] = llvm.fptosi %x : f32 to i32
  %0 = arith.fptosi %x : f32 to i32
  // CHECK: %[[U:.*]] = llvm.uitofp %[[SI]] : i32 to f32
  %1 = arith.uitofp %0 : i32 to f32
  // CHECK: %[[E:.*]] = llvm.fpext %[[U]] : f32 to f64
  %2 = arith.extf %1 : f32 to f64
  // CHECK: %[[T:.*]] = llvm.trunc %i : i32 to i8
  %3 = arith.trunci %i : i32 to i8
  // CHECK: llvm.zext %[[T]] : i8 to i64
  %4 = arith.extui %3 : i8 to i64
  // CHECK: llvm.sitofp %{{.*}} : i64 to f64
  %5 = arith.sitofp %4 : i64 to f64
  %6 = arith.addf %2, %5 : f64
  func.return %6 : f64
}

// -----

// The constant predicates of cmpf fold to constants.

// CHECK-LABEL: func.func @cmpf_true
func.func @cmpf_true(%x: f32) -> i1 {
  // CHECK: %[[T:.*]] = llvm.mlir.constant(true) : i1
  // CHECK: func.return %[[T]] : i1
  %0 = arith.cmpf true, %x, %x : f32
  func.return %0 : i1
}
