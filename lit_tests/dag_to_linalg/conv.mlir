// RUN: dag-opt %s --split-input-file -p convert-dag-to-linalg | filecheck %s

// A convolution with padding and a bias: the input is padded with fill +
// insert_slice, the bias broadcast into the accumulator, and the weight keeps its
// dense_resource handle.
// CHECK-LABEL: func.func @conv
// CHECK:         %[[W:.*]] = arith.constant dense_resource<c_weight> : tensor<4x3x3x3xf32>
// CHECK:         %[[B:.*]] = arith.constant dense<[5.000000e-01, 1.000000e+00, 1.500000e+00, 2.000000e+00]> : tensor<4xf32>
// CHECK:         %[[E:.*]] = tensor.empty() : tensor<1x3x10x10xf32>
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<1x3x10x10xf32>)
// CHECK-NEXT:    %[[XP:.*]] = tensor.insert_slice %x into %[[F]][0, 0, 1, 1] [1, 3, 8, 8] [1, 1, 1, 1]
// CHECK:         %[[INIT:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>]
// CHECK-SAME:        ins(%[[B]] : tensor<4xf32>)
// CHECK:         %[[Y:.*]] = linalg.conv_2d_nchw_fchw {strides = dense<2> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>}
// CHECK-SAME:        ins(%[[XP]], %[[W]] : tensor<1x3x10x10xf32>, tensor<4x3x3x3xf32>) outs(%[[INIT]] : tensor<1x4x4x4xf32>)
// CHECK-NEXT:    func.return %[[Y]]
func.func @conv(%x: tensor<1x3x8x8xf32>) -> tensor<1x4x4x4xf32> {
  %w = dag.constant "c.weight"() {value = dense_resource<c_weight> : tensor<4x3x3x3xf32>} : () -> tensor<4x3x3x3xf32>
  %b = dag.constant "c.bias"() {value = dense<[0.5, 1.0, 1.5, 2.0]> : tensor<4xf32>} : () -> tensor<4xf32>
  %y = dag.conv2d "c"(%x, %w, %b) {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
  func.return %y : tensor<1x4x4x4xf32>
}

// -----

// A depthwise convolution (groups = channels) is a grouped convolution on views
// that split the channels into groups: N x G x C/G x H x W, G x F/G x C/G x KH x KW.
// CHECK-LABEL: func.func @depthwise
// CHECK:         %[[ACC:.*]] = linalg.fill {{.*}} -> tensor<1x4x5x5xf32>
// CHECK-NEXT:    %[[XG:.*]] = tensor.expand_shape %{{.*}} {{.*}} output_shape [1, 4, 1, 7, 7] : tensor<1x4x7x7xf32> into tensor<1x4x1x7x7xf32>
// CHECK-NEXT:    %[[WG:.*]] = tensor.expand_shape %w {{.*}} output_shape [4, 1, 1, 3, 3] : tensor<4x1x3x3xf32> into tensor<4x1x1x3x3xf32>
// CHECK-NEXT:    %[[AG:.*]] = tensor.expand_shape %[[ACC]] {{.*}} output_shape [1, 4, 1, 5, 5]
// CHECK-NEXT:    %[[YG:.*]] = linalg.conv_2d_ngchw_gfchw {strides = dense<1> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>} ins(%[[XG]], %[[WG]] : {{.*}}) outs(%[[AG]] : tensor<1x4x1x5x5xf32>)
// CHECK-NEXT:    %[[Y:.*]] = tensor.collapse_shape %[[YG]] {{.*}} : tensor<1x4x1x5x5xf32> into tensor<1x4x5x5xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @depthwise(%x: tensor<1x4x5x5xf32>, %w: tensor<4x1x3x3xf32>) -> tensor<1x4x5x5xf32> {
  %y = dag.conv2d "dw"(%x, %w) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 4 : i64} : (tensor<1x4x5x5xf32>, tensor<4x1x3x3xf32>) -> tensor<1x4x5x5xf32>
  func.return %y : tensor<1x4x5x5xf32>
}

// -----

// A transposed convolution: the input is spread by a strided insert_slice into
// zeros and cropped by the padding, the weight flipped in space and transposed to
// F x C x KH x KW, then a stride-1 convolution.
// CHECK-LABEL: func.func @conv_transpose
// CHECK:         %[[Z:.*]] = tensor.insert_slice %x into %{{.*}}[0, 0, 2, 2] [1, 2, 3, 3] [1, 1, 2, 2] : tensor<1x2x3x3xf32> into tensor<1x2x10x10xf32>
// CHECK-NEXT:    %[[ZS:.*]] = tensor.extract_slice %[[Z]][0, 0, 1, 1] [1, 2, 8, 8] [1, 1, 1, 1]
// CHECK:         %[[WF:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, d0, ((d2 * -1) + 2), ((d3 * -1) + 2))>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>]
// CHECK-SAME:        ins(%w : tensor<2x3x3x3xf32>) outs(%{{.*}} : tensor<3x2x3x3xf32>)
// CHECK:         linalg.conv_2d_nchw_fchw {strides = dense<1> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>} ins(%[[ZS]], %[[WF]] : tensor<1x2x8x8xf32>, tensor<3x2x3x3xf32>)
func.func @conv_transpose(%x: tensor<1x2x3x3xf32>, %w: tensor<2x3x3x3xf32>) -> tensor<1x3x6x6xf32> {
  %y = dag.conv_transpose2d "up"(%x, %w) {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, output_padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x3x3xf32>, tensor<2x3x3x3xf32>) -> tensor<1x3x6x6xf32>
  func.return %y : tensor<1x3x6x6xf32>
}
