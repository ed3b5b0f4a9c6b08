// RUN: dag-opt %s --split-input-file -p convert-math-to-llvm | filecheck %s

// Math ops with an LLVM intrinsic become that intrinsic.

// CHECK-LABEL: func.func @intrinsics
func.func @intrinsics(%x: f32, %y: f32, %z: f32) -> f32 {
  // CHECK: %[[EXP:.*]] = llvm.intr.exp(%x) : (f32) -> f32
  %0 = math.exp %x : f32
  // CHECK: %[[TANH:.*]] = llvm.intr.tanh(%[[EXP]]) : (f32) -> f32
  %1 = math.tanh %0 : f32
  // CHECK: %[[ROUND:.*]] = llvm.intr.round(%[[TANH]]) : (f32) -> f32
  %2 = math.round %1 : f32
  // CHECK: %[[POW:.*]] = llvm.intr.pow(%[[ROUND]], %y) : (f32, f32) -> f32
  %3 = math.powf %2, %y : f32
  // CHECK: %[[FMA:.*]] = llvm.intr.fma(%[[POW]], %y, %z) : (f32, f32, f32) -> f32
  %4 = math.fma %3, %y, %z : f32
  // CHECK: %[[ABS:.*]] = llvm.intr.fabs(%[[FMA]]) : (f32) -> f32
  %5 = math.absf %4 : f32
  // CHECK: llvm.intr.copysign(%[[ABS]], %x) : (f32, f32) -> f32
  %6 = math.copysign %5, %x : f32
  func.return %6 : f32
}

// -----

// rsqrt is 1 / sqrt(x).

// CHECK-LABEL: func.func @rsqrt
func.func @rsqrt(%x: f64) -> f64 {
  // CHECK:      %[[ONE:.*]] = llvm.mlir.constant(1.000000e+00 : f64) : f64
  // CHECK-NEXT: %[[SQRT:.*]] = llvm.intr.sqrt(%x) : (f64) -> f64
  // CHECK-NEXT: %[[R:.*]] = llvm.fdiv %[[ONE]], %[[SQRT]] : f64
  %0 = math.rsqrt %x : f64
  // CHECK: func.return %[[R]] : f64
  func.return %0 : f64
}

// -----

// Ops without an intrinsic call libm, at the operand's precision; f16 goes
// through f32.

// CHECK: llvm.func @expm1(f64) -> f64
// CHECK: llvm.func @log1pf(f32) -> f32
// CHECK: llvm.func @erff(f32) -> f32
// CHECK-LABEL: func.func @libm
func.func @libm(%x: f32, %h: f16, %d: f64) -> (f32, f16, f64) {
  // CHECK: %[[ERF:.*]] = llvm.call @erff(%x) : (f32) -> f32
  %0 = math.erf %x : f32
  // CHECK:      %[[EXT:.*]] = llvm.fpext %h : f16 to f32
  // CHECK-NEXT: %[[L:.*]] = llvm.call @log1pf(%[[EXT]]) : (f32) -> f32
  // CHECK-NEXT: llvm.fptrunc %[[L]] : f32 to f16
  %1 = math.log1p %h : f16
  // CHECK: llvm.call @expm1(%d) : (f64) -> f64
  %2 = math.expm1 %d : f64
  func.return %0, %1, %2 : f32, f16, f64
}

// -----

// Integer math has defined results for zero and INT_MIN (no poison flags).

// CHECK-LABEL: func.func @integer
func.func @integer(%i: i32) -> i32 {
  // CHECK: %[[A:.*]] = "llvm.intr.abs"(%i) <{is_int_min_poison = false}> : (i32) -> i32
  %0 = math.absi %i : i32
  // CHECK: "llvm.intr.ctlz"(%[[A]]) <{is_zero_poison = false}> : (i32) -> i32
  %1 = math.ctlz %0 : i32
  func.return %1 : i32
}
