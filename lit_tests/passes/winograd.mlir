// dag-winograd: a 3x3 convolution (stride 1, dilation 1, one group, f32, constant
// filter) becomes dag.winograd_conv2d with the filter transformed, U = G g G^T.
// RUN: dag-opt %s --split-input-file -p 'dag-winograd{min_channels=1 min_tiles=1}' | filecheck %s
// With the default thresholds (16 channels, 36 tiles) these small convs stay.
// RUN: dag-opt %s --split-input-file -p dag-winograd | filecheck %s --check-prefix=DEFAULT

// g = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]: U = G g G^T = [[1, 3, 1, 3], [6, 11.25,
// 3.75, 9], [2, 3.75, 1.25, 3], [7, 12, 4, 9]] (4 x 4 x F x C with F = C = 1), a new
// blob named after the old weight, in its place; the old constant and its blob go, the bias and
// the padding stay.
// CHECK-LABEL: func.func @conv
// CHECK-NOT:     dag.conv2d
// CHECK:         %[[U:.*]] = dag.constant "c.weight.winograd"() {value = dense_resource<c_weight_winograd> : tensor<4x4x1x1xf32>} : () -> tensor<4x4x1x1xf32>
// CHECK-NEXT:    %[[B:.*]] = dag.constant "c.bias"() {value = dense<5.000000e-01> : tensor<1xf32>}
// CHECK-NEXT:    %[[Y:.*]] = dag.winograd_conv2d "c"(%x, %[[U]], %[[B]]) {padding = array<i64: 1, 1>} : (tensor<1x1x6x5xf32>, tensor<4x4x1x1xf32>, tensor<1xf32>) -> tensor<1x1x6x5xf32>
// CHECK-NEXT:    func.return %[[Y]]
// CHECK:         dialect_resources: {
// CHECK-NEXT:      builtin: {
// CHECK-NEXT:        c_weight_winograd: "0x040000000000803F000040400000803F000040400000C04000003441000070400000104100000040000070400000A03F000040400000E040000040410000804000001041"
// CHECK-NEXT:      }
// DEFAULT-LABEL: func.func @conv
// DEFAULT:         dag.conv2d "c"
// DEFAULT-NOT:     dag.winograd_conv2d
func.func @conv(%x: tensor<1x1x6x5xf32>) -> tensor<1x1x6x5xf32> {
  %w = dag.constant "c.weight"() {value = dense_resource<c_weight> : tensor<1x1x3x3xf32>} : () -> tensor<1x1x3x3xf32>
  %b = dag.constant "c.bias"() {value = dense<0.5> : tensor<1xf32>} : () -> tensor<1xf32>
  %y = dag.conv2d "c"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x6x5xf32>, tensor<1x1x3x3xf32>, tensor<1xf32>) -> tensor<1x1x6x5xf32>
  func.return %y : tensor<1x1x6x5xf32>
}

{-#
  dialect_resources: {
    builtin: {
      c_weight: "0x040000000000803F0000004000004040000080400000A0400000C0400000E0400000004100001041"
    }
  }
#-}

// -----

// A conv inside dag-fuse's region: U becomes a new operand of dag.fused (last),
// bound to a new block argument the conv reads; the old weight's operand and
// block argument go, and so does its constant.
// CHECK-LABEL: func.func @fused
// CHECK-NOT:     "c.weight"()
// CHECK:         %[[U:.*]] = dag.constant "c.weight.winograd"() {{.*}} : () -> tensor<4x4x2x2xf32>
// CHECK-NEXT:    %[[Y:.*]] = dag.fused "c+r"(%[[X:[a-z0-9_]+]] = %x, %[[UA:[a-z0-9_]+]] = %[[U]]) : (tensor<1x2x4x4xf32>, tensor<4x4x2x2xf32>) -> tensor<1x2x2x2xf32> {
// CHECK-NEXT:      %[[C:.*]] = dag.winograd_conv2d "c"(%[[X]], %[[UA]]) {padding = array<i64: 0, 0>} : (tensor<1x2x4x4xf32>, tensor<4x4x2x2xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:      %[[R:.*]] = dag.relu "r"(%[[C]])
// CHECK-NEXT:      dag.yield %[[R]]
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[Y]]
// DEFAULT-LABEL: func.func @fused
// DEFAULT:         dag.conv2d "c"
// DEFAULT-NOT:     dag.winograd_conv2d
func.func @fused(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32> {
  %w = dag.constant "c.weight"() {value = dense<1.0> : tensor<2x2x3x3xf32>} : () -> tensor<2x2x3x3xf32>
  %y = dag.fused "c+r"(%xa = %x, %wa = %w) : (tensor<1x2x4x4xf32>, tensor<2x2x3x3xf32>) -> tensor<1x2x2x2xf32> {
    %c = dag.conv2d "c"(%xa, %wa) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<2x2x3x3xf32>) -> tensor<1x2x2x2xf32>
    %r = dag.relu "r"(%c) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    dag.yield %r : tensor<1x2x2x2xf32>
  }
  func.return %y : tensor<1x2x2x2xf32>
}

// -----

// Convolutions F(2x2, 3x3) does not compute stay: stride 2, dilation 2, two
// groups, a 5x5 filter, and a filter that is not a constant (an argument).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT:     dag.winograd_conv2d
// CHECK:         dag.conv2d "stride"
// CHECK:         dag.conv2d "dilation"
// CHECK:         dag.conv2d "groups"
// CHECK:         dag.conv2d "five"
// CHECK:         dag.conv2d "argument"
// CHECK-NOT:     dag.winograd_conv2d
func.func @left_alone(%x: tensor<1x2x9x9xf32>, %wa: tensor<2x2x3x3xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x5x5xf32>, tensor<1x2x7x7xf32>, tensor<1x2x5x5xf32>, tensor<1x2x7x7xf32>) {
  %w = dag.constant "w"() {value = dense<1.0> : tensor<2x2x3x3xf32>} : () -> tensor<2x2x3x3xf32>
  %wg = dag.constant "wg"() {value = dense<1.0> : tensor<2x1x3x3xf32>} : () -> tensor<2x1x3x3xf32>
  %w5 = dag.constant "w5"() {value = dense<1.0> : tensor<2x2x5x5xf32>} : () -> tensor<2x2x5x5xf32>
  %s = dag.conv2d "stride"(%x, %w) {stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x9x9xf32>, tensor<2x2x3x3xf32>) -> tensor<1x2x4x4xf32>
  %d = dag.conv2d "dilation"(%x, %w) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 2, 2>, groups = 1 : i64} : (tensor<1x2x9x9xf32>, tensor<2x2x3x3xf32>) -> tensor<1x2x5x5xf32>
  %g = dag.conv2d "groups"(%x, %wg) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<1x2x9x9xf32>, tensor<2x1x3x3xf32>) -> tensor<1x2x7x7xf32>
  %f = dag.conv2d "five"(%x, %w5) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x9x9xf32>, tensor<2x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  %a = dag.conv2d "argument"(%x, %wa) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x9x9xf32>, tensor<2x2x3x3xf32>) -> tensor<1x2x7x7xf32>
  func.return %s, %d, %g, %f, %a : tensor<1x2x4x4xf32>, tensor<1x2x5x5xf32>, tensor<1x2x7x7xf32>, tensor<1x2x5x5xf32>, tensor<1x2x7x7xf32>
}
