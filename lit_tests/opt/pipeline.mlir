// --pass-pipeline with the builtin.module anchor, -p, and print-ir-after-all.
// RUN: dag-opt %s --pass-pipeline='builtin.module(canonicalize,cse)' | filecheck %s
// RUN: dag-opt %s -p canonicalize,cse | filecheck %s
// RUN: dag-opt %s -p canonicalize,cse --mlir-print-ir-after-all 2>&1 >/dev/null | filecheck %s --check-prefix=DUMP

// CHECK-LABEL: func.func @forward
// CHECK-NEXT:    %0 = dag.relu "r"(%x)
// CHECK-NEXT:    func.return %0
// DUMP: // -----// IR Dump After canonicalize //----- //
// DUMP: // -----// IR Dump After cse //----- //
func.func @forward(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = dag.reshape "noop"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = dag.relu "r"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %1 : tensor<2x3xf32>
}
