// RUN: not dag-opt %s -p convert-dag-to-linalg 2>&1 | filecheck %s --check-prefix=ERR
// RUN: dag-opt %s -p 'convert-dag-to-linalg{keep-opaque=true}' | filecheck %s

// dag.opaque runs on HOST through torch and has no lowering: the pass fails and
// names it, or with keep-opaque=true leaves it in place between the lowered ops.
// CHECK-LABEL: func.func @f
// CHECK:         %[[R:.*]] = linalg.generic
// CHECK:         %[[O:.*]] = dag.opaque "strange"(%[[R]]) {class = "pkg.Strange"{{.*}}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK:         linalg.generic {{.*}} ins(%[[O]] : tensor<2x3xf32>)
// CHECK:           arith.negf
// ERR: error: cannot lower dag.opaque "strange" to linalg: it is an opaque module (pkg.Strange) that only torch can run
func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = dag.relu "r"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = dag.opaque "strange"(%0) {class = "pkg.Strange"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = dag.neg "n"(%1) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %2 : tensor<2x3xf32>
}
