// Weights live in the dialect_resources trailer and survive a round trip; the
// elision flag drops large blobs from the printout.
// RUN: dag-opt %s | filecheck %s
// RUN: dag-opt %s --mlir-elide-elementsattrs-if-larger=2 | filecheck %s --check-prefix=ELIDE

// CHECK:      dag.constant "w"() {value = dense_resource<w> : tensor<4xf32>}
// CHECK:      dag.constant "b"() {value = dense_resource<b> : tensor<2xf32>}
// CHECK:      dialect_resources: {
// CHECK-NEXT:   builtin: {
// CHECK-NEXT:     b: "0x040000000000803F00000040",
// CHECK-NEXT:     w: "0x040000000000803F000000400000404000008040"

// ELIDE:      dense_resource<w>
// ELIDE:      builtin: {
// ELIDE-NEXT:   b: "0x040000000000803F00000040"
// ELIDE-NOT:    w:

func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
  %w = dag.constant "w"() {value = dense_resource<w> : tensor<4xf32>} : () -> tensor<4xf32>
  %b = dag.constant "b"() {value = dense_resource<b> : tensor<2xf32>} : () -> tensor<2xf32>
  %y = dag.mul "m"(%x, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F000000400000404000008040",
      b: "0x040000000000803F00000040"
    }
  }
#-}
