// dag canonicalization patterns, applied by the canonicalize pass.
// RUN: dag-opt %s --split-input-file -p canonicalize | filecheck %s

// CHECK-LABEL: func.func @reshape_chain
// CHECK-NEXT:    %0 = dag.reshape "r1"(%x) : (tensor<2x3x4xf32>) -> tensor<24xf32>
// CHECK-NEXT:    func.return %0
func.func @reshape_chain(%x: tensor<2x3x4xf32>) -> tensor<24xf32> {
  %0 = dag.reshape "r0"(%x) : (tensor<2x3x4xf32>) -> tensor<6x4xf32>
  %1 = dag.reshape "r1"(%0) : (tensor<6x4xf32>) -> tensor<24xf32>
  func.return %1 : tensor<24xf32>
}

// -----

// CHECK-LABEL: func.func @permute_chain
// CHECK-NEXT:    %0 = dag.permute "p1"(%x) {perm = array<i64: 2, 0, 1>}
// CHECK-NEXT:    func.return %0
func.func @permute_chain(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  %0 = dag.permute "p0"(%x) {perm = array<i64: 1, 0, 2>} : (tensor<2x3x4xf32>) -> tensor<3x2x4xf32>
  %1 = dag.permute "p1"(%0) {perm = array<i64: 2, 1, 0>} : (tensor<3x2x4xf32>) -> tensor<4x2x3xf32>
  func.return %1 : tensor<4x2x3xf32>
}

// -----

// A transpose of a transpose is the identity and disappears entirely.
// CHECK-LABEL: func.func @transpose_twice
// CHECK-NEXT:    func.return %x
func.func @transpose_twice(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = dag.permute "t0"(%x) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %1 = dag.permute "t1"(%0) {perm = array<i64: 1, 0>} : (tensor<3x2xf32>) -> tensor<2x3xf32>
  func.return %1 : tensor<2x3xf32>
}

// -----

// No-op shape ops are removed; a permutation of equal dims is kept (it moves data).
// CHECK-LABEL: func.func @noops
// CHECK-NEXT:    %0 = dag.permute "keep"(%x) {perm = array<i64: 1, 0>} : (tensor<3x3xf32>) -> tensor<3x3xf32>
// CHECK-NEXT:    func.return %0
func.func @noops(%x: tensor<3x3xf32>) -> tensor<3x3xf32> {
  %0 = dag.reshape "r"(%x) : (tensor<3x3xf32>) -> tensor<3x3xf32>
  %1 = dag.expand "e"(%0) : (tensor<3x3xf32>) -> tensor<3x3xf32>
  %2 = dag.slice "s"(%1) {dim = 0 : i64, start = 0 : i64, end = 3 : i64, step = 1 : i64} : (tensor<3x3xf32>) -> tensor<3x3xf32>
  %3 = dag.concat "c"(%2) {dim = 0 : i64} : (tensor<3x3xf32>) -> tensor<3x3xf32>
  %4 = dag.pad "p"(%3) {pads = array<i64: 0, 0>, mode = "constant", value = 0.0 : f64} : (tensor<3x3xf32>) -> tensor<3x3xf32>
  %5 = dag.permute "keep"(%4) {perm = array<i64: 1, 0>} : (tensor<3x3xf32>) -> tensor<3x3xf32>
  func.return %5 : tensor<3x3xf32>
}

// -----

// Dead pure ops are erased; live ones stay.
// CHECK-LABEL: func.func @dce
// CHECK-NOT:     dag.exp
// CHECK:         dag.relu
func.func @dce(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = dag.exp "dead"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = dag.relu "live"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %1 : tensor<4xf32>
}
