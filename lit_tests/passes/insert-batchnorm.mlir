// dag-insert-batchnorm: an identity batch norm after every conv2d without one.
// RUN: dag-opt %s -p dag-insert-batchnorm | filecheck %s
// RUN: dag-opt %s -p dag-insert-batchnorm,dag-remove-identity | filecheck %s --check-prefix=UNDO

// The variance is 1 - eps rounded so that var + eps == 1 exactly in f32:
// 0.99999 is 0x3F7FFF58, the blob bytes 58FF7F3F.
// CHECK-LABEL: func.func @two_convs
// CHECK:         %[[C1:.*]] = dag.conv2d "c1"
// CHECK:         %[[BN:.*]] = dag.batch_norm "c1.bn"(%[[C1]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) {eps = 1.000000e-05 : f64}
// CHECK:         dag.conv2d "c2"(%[[BN]]
// CHECK-NOT:     dag.batch_norm "c2.bn"
// CHECK:         dag.batch_norm "bn2"
// CHECK:         c1_bn_running_var: "0x0400000058FF7F3F58FF7F3F"
// CHECK-NEXT:    c1_bn_weight: "0x040000000000803F0000803F"

// UNDO-LABEL: func.func @two_convs
// UNDO-NOT:     c1.bn
// UNDO:         dag.conv2d "c2"
func.func @two_convs(%x: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w1 = dag.constant "c1.weight"() {value = dense<1.0> : tensor<2x1x1x1xf32>} : () -> tensor<2x1x1x1xf32>
  %y1 = dag.conv2d "c1"(%x, %w1) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x4x4xf32>, tensor<2x1x1x1xf32>) -> tensor<1x2x4x4xf32>
  %w2 = dag.constant "c2.weight"() {value = dense<1.0> : tensor<2x2x1x1xf32>} : () -> tensor<2x2x1x1xf32>
  %y2 = dag.conv2d "c2"(%y1, %w2) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32>
  %m = dag.constant "bn2.running_mean"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %v = dag.constant "bn2.running_var"() {value = dense<3.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %g = dag.constant "bn2.weight"() {value = dense<4.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = dag.constant "bn2.bias"() {value = dense<0.5> : tensor<2xf32>} : () -> tensor<2xf32>
  %z = dag.batch_norm "bn2"(%y2, %m, %v, %g, %b) {eps = 1.0e-05 : f64} : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  func.return %z : tensor<1x2x4x4xf32>
}
