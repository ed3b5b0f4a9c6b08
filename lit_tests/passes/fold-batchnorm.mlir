// dag-fold-batchnorm: batch_norm(conv(x)) -> conv'(x) with folded weights.
// RUN: dag-opt %s --split-input-file -p dag-fold-batchnorm | filecheck %s

// scale = gamma / sqrt(var + eps) = 4 / sqrt(3 + 1) = 2 and
// shift = beta - mean * scale = 0.5 - 1 * 2 = -1.5, so W' = 2 * W = [2, 4] and
// b' = 0 * 2 - 1.5: the conv gains a bias, the batch norm and its constants go.
// CHECK-LABEL: func.func @conv_bn
// CHECK-NOT:     dag.batch_norm
// CHECK:         %[[W:.*]] = dag.constant "c.weight"() {value = dense_resource<[[WH:c_weight[_0-9]*]]> : tensor<2x1x1x1xf32>}
// CHECK-NEXT:    %[[B:.*]] = dag.constant "c.bias"() {value = dense_resource<[[BH:c_bias[_0-9]*]]> : tensor<2xf32>}
// CHECK-NEXT:    %[[Y:.*]] = dag.conv2d "c"(%x, %[[W]], %[[B]])
// CHECK-NEXT:    func.return %[[Y]]
// CHECK:         [[BH]]: "0x040000000000C0BF0000C0BF"
// CHECK-NEXT:    [[WH]]: "0x040000000000004000008040"
func.func @conv_bn(%x: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = dag.constant "c.weight"() {value = dense<[[[[1.0]]], [[[2.0]]]]> : tensor<2x1x1x1xf32>} : () -> tensor<2x1x1x1xf32>
  %y = dag.conv2d "c"(%x, %w) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x4x4xf32>, tensor<2x1x1x1xf32>) -> tensor<1x2x4x4xf32>
  %m = dag.constant "bn.running_mean"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %v = dag.constant "bn.running_var"() {value = dense<3.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %g = dag.constant "bn.weight"() {value = dense<4.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = dag.constant "bn.bias"() {value = dense<0.5> : tensor<2xf32>} : () -> tensor<2xf32>
  %z = dag.batch_norm "bn"(%y, %m, %v, %g, %b) {eps = 1.0 : f64} : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  func.return %z : tensor<1x2x4x4xf32>
}

// -----

// A linear with a bias: b' = b * scale + shift = 1 * 2 - 1.5 = 0.5.
// CHECK-LABEL: func.func @linear_bn
// CHECK:         dag.linear "fc"(%x, %{{.*}}, %{{.*}}) : (tensor<3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
// CHECK-NOT:     dag.batch_norm
// CHECK:         fc_bias{{.*}}: "0x040000000000003F0000003F"
func.func @linear_bn(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = dag.constant "fc.weight"() {value = dense<1.0> : tensor<2x2xf32>} : () -> tensor<2x2xf32>
  %c = dag.constant "fc.bias"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %y = dag.linear "fc"(%x, %w, %c) : (tensor<3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %m = dag.constant "bn.running_mean"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %v = dag.constant "bn.running_var"() {value = dense<3.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %g = dag.constant "bn.weight"() {value = dense<4.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = dag.constant "bn.bias"() {value = dense<0.5> : tensor<2xf32>} : () -> tensor<2xf32>
  %z = dag.batch_norm "bn"(%y, %m, %v, %g, %b) {eps = 1.0 : f64} : (tensor<3x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  func.return %z : tensor<3x2xf32>
}

// -----

// The conv result has another user: folding would change it, so nothing happens.
// CHECK-LABEL: func.func @shared_conv
// CHECK:         %[[Y:.*]] = dag.conv2d "c"
// CHECK:         dag.batch_norm "bn"(%[[Y]]
// CHECK:         dag.add "a"
func.func @shared_conv(%x: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = dag.constant "c.weight"() {value = dense<1.0> : tensor<2x1x1x1xf32>} : () -> tensor<2x1x1x1xf32>
  %y = dag.conv2d "c"(%x, %w) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x4x4xf32>, tensor<2x1x1x1xf32>) -> tensor<1x2x4x4xf32>
  %m = dag.constant "bn.running_mean"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %v = dag.constant "bn.running_var"() {value = dense<3.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %g = dag.constant "bn.weight"() {value = dense<4.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = dag.constant "bn.bias"() {value = dense<0.5> : tensor<2xf32>} : () -> tensor<2xf32>
  %z = dag.batch_norm "bn"(%y, %m, %v, %g, %b) {eps = 1.0 : f64} : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  %s = dag.add "a"(%y, %z) : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  func.return %s : tensor<1x2x4x4xf32>
}

// -----

// A transposed conv: its output channels are the weight's dim 1.
// CHECK-LABEL: func.func @conv_transpose_bn
// CHECK:         dag.conv_transpose2d "up"(%x, %{{.*}}, %{{.*}}) {{.*}} : (tensor<1x1x2x2xf32>, tensor<1x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
// CHECK-NOT:     dag.batch_norm
func.func @conv_transpose_bn(%x: tensor<1x1x2x2xf32>) -> tensor<1x2x4x4xf32> {
  %w = dag.constant "up.weight"() {value = dense<1.0> : tensor<1x2x2x2xf32>} : () -> tensor<1x2x2x2xf32>
  %y = dag.conv_transpose2d "up"(%x, %w) {stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, output_padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x4x4xf32>
  %m = dag.constant "bn.running_mean"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %v = dag.constant "bn.running_var"() {value = dense<3.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %g = dag.constant "bn.weight"() {value = dense<4.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = dag.constant "bn.bias"() {value = dense<0.5> : tensor<2xf32>} : () -> tensor<2xf32>
  %z = dag.batch_norm "bn"(%y, %m, %v, %g, %b) {eps = 1.0 : f64} : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  func.return %z : tensor<1x2x4x4xf32>
}
