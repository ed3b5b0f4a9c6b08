// RUN: dag-opt %s --split-input-file -p dagc-math-approximation | filecheck %s

// f32 exp becomes Cephes' range reduction and polynomial, scaled by 2^n built from
// exponent bits in two halves; overflow, underflow and NaN are selected last.
// CHECK-LABEL: func.func @exp
// CHECK-NOT:     math.exp
// CHECK:         %[[N:.*]] = math.floor
// CHECK:         %[[NI:.*]] = arith.fptosi %[[N]] : f32 to i32
// CHECK:         %[[HALF:.*]] = arith.shrsi %[[NI]]
// CHECK:         arith.shli
// CHECK:         arith.bitcast {{.*}} : i32 to f32
// CHECK:         arith.cmpf ogt
// CHECK:         arith.cmpf olt
// CHECK:         %[[NAN:.*]] = arith.cmpf uno, %x, %x
// CHECK:         %[[R:.*]] = arith.select %[[NAN]], %x
// CHECK:         func.return %[[R]]
func.func @exp(%x: f32) -> f32 {
  %y = math.exp %x : f32
  func.return %y : f32
}

// -----

// erf and tanh are odd rational functions of the clamped input; tanh returns x
// itself near 0.
// CHECK-LABEL: func.func @erf_tanh
// CHECK-NOT:     math.erf
// CHECK-NOT:     math.tanh
// CHECK:         arith.maximumf
// CHECK:         arith.minimumf
// CHECK:         arith.divf
// CHECK:         math.absf
// CHECK:         arith.select
func.func @erf_tanh(%x: f32) -> (f32, f32) {
  %e = math.erf %x : f32
  %t = math.tanh %x : f32
  func.return %e, %t : f32, f32
}

// -----

// Other precisions keep the op (libm or an intrinsic later).
// CHECK-LABEL: func.func @f64
// CHECK:         math.exp %x : f64
func.func @f64(%x: f64) -> f64 {
  %y = math.exp %x : f64
  func.return %y : f64
}
