// Bad input gives one located diagnostic and exit status 1, never a traceback.
// RUN: not dag-opt %s --split-input-file 2>&1 | filecheck %s
// RUN: not dag-opt %s -p no-such-pass 2>&1 | filecheck %s --check-prefix=PASS
// RUN: not dag-opt %s -p canonicalise 2>&1 | filecheck %s --check-prefix=CLOSE
// RUN: not dag-opt %S/does-not-exist.mlir 2>&1 | filecheck %s --check-prefix=MISSING
// RUN: dag-opt --list-passes | filecheck %s --check-prefix=LIST

// CHECK-NOT: Traceback
// CHECK: errors.mlir:[[# @LINE + 2]]:{{[0-9]+}}: error: Operation dag.bogus is not registered
func.func @unknown_op(%x: tensor<2xf32>) -> tensor<2xf32> {
  %0 = dag.bogus "b"(%x) : (tensor<2xf32>) -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}

// -----

// CHECK: errors.mlir:[[# @LINE + 2]]:42: error: ')' expected
func.func @malformed(%x: tensor<2xf32>) -> tensor<2xf32> {
  %0 = dag.relu "r"(%x) : (tensor<2xf32> -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}

// -----

// CHECK: errors.mlir:[[# @LINE + 2]]:3: error: 'dag.relu' op result #0 has type tensor<3xf32>
func.func @wrong_type(%x: tensor<2xf32>) -> tensor<3xf32> {
  %0 = dag.relu "r"(%x) : (tensor<2xf32>) -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}

// PASS: error: unknown pass 'no-such-pass'; see dag-opt --list-passes
// CLOSE: error: unknown pass 'canonicalise' (did you mean canonicalize
// MISSING: dag-opt: error: cannot read '{{.*}}does-not-exist.mlir': No such file or directory
// LIST: dagc passes:
// LIST: xDSL passes:
// LIST: canonicalize
