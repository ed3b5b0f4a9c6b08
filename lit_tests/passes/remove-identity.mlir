// dag-remove-identity: ops that compute the identity disappear.
// RUN: dag-opt %s --split-input-file -p dag-remove-identity | filecheck %s

// CHECK-LABEL: func.func @neutral_elements
// CHECK-NEXT:    %two = dag.constant "two"
// CHECK-NEXT:    %[[Y:.*]] = dag.mul "keep"(%x, %two)
// CHECK-NEXT:    func.return %[[Y]]
func.func @neutral_elements(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %one = dag.constant "one"() {value = dense<1.0> : tensor<3xf32>} : () -> tensor<3xf32>
  %zero = dag.constant "zero"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
  %two = dag.constant "two"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
  %0 = dag.mul "m"(%x, %one) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %1 = dag.add "a"(%zero, %0) : (tensor<f32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = dag.sub "s"(%1, %zero) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %3 = dag.div "d"(%2, %one) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %4 = dag.pow "p"(%3, %one) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %5 = dag.mul "keep"(%4, %two) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  func.return %5 : tensor<2x3xf32>
}

// -----

// 0 - x is not x, and x * 1 that broadcasts x to a larger shape is not x either.
// CHECK-LABEL: func.func @not_identities
// CHECK:         dag.sub "neg"
// CHECK:         dag.mul "bcast"
func.func @not_identities(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<2x3xf32>) {
  %zero = dag.constant "zero"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
  %ones = dag.constant "ones"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %0 = dag.sub "neg"(%zero, %x) : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
  %1 = dag.mul "bcast"(%x, %ones) : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %0, %1 : tensor<3xf32>, tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @shape_and_pooling
// CHECK-NEXT:    %[[Y:.*]] = dag.clamp "relu6"(%x) {min = 0.000000e+00 : f64, max = 6.000000e+00 : f64}
// CHECK-NEXT:    func.return %[[Y]]
func.func @shape_and_pooling(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %0 = dag.reshape "r"(%x) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %1 = dag.clamp "free"(%0) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %2 = dag.clamp "inf"(%1) {min = 0xFFF0000000000000 : f64, max = 0x7FF0000000000000 : f64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %3 = dag.max_pool2d "mp"(%2) {kernel = array<i64: 1, 1>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %4 = dag.adaptive_avg_pool2d "ap"(%3) {output_size = array<i64: 4, 4>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %5 = dag.interpolate "up"(%4) {mode = "bilinear"} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %6 = dag.permute "p"(%5) {perm = array<i64: 0, 1, 2, 3>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %7 = dag.clamp "relu6"(%6) {min = 0.0 : f64, max = 6.0 : f64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  func.return %7 : tensor<1x2x4x4xf32>
}

// -----

// A batch norm with mean 0, bias 0 and weight / sqrt(var + eps) == 1 is the identity;
// one that scales by 1/sqrt(1 + 1e-5) is not.
// CHECK-LABEL: func.func @batch_norms
// CHECK-NOT:     dag.batch_norm "identity"
// CHECK:         dag.batch_norm "scales"(%x,
func.func @batch_norms(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %m = dag.constant "m"() {value = dense<0.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %v = dag.constant "v"() {value = dense<0.99999> : tensor<2xf32>} : () -> tensor<2xf32>
  %v1 = dag.constant "v1"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %w = dag.constant "w"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = dag.constant "b"() {value = dense<0.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %0 = dag.batch_norm "identity"(%x, %m, %v, %w, %b) {eps = 1.0e-05 : f64} : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  %1 = dag.batch_norm "scales"(%0, %m, %v1, %w, %b) {eps = 1.0e-01 : f64} : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  func.return %1 : tensor<1x2x4x4xf32>
}

// -----

// Dropout is the identity at inference.
// CHECK-LABEL: func.func @dropout
// CHECK-NEXT:    func.return %x
func.func @dropout(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = dag.opaque "drop"(%x) {class = "torch.nn.modules.dropout.Dropout"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}
