// RUN: dag-opt %s --split-input-file -p convert-dag-to-linalg | filecheck %s

// max_pool2d with ceil_mode: -inf padding large enough for the last window, and a
// window-max generic shaped like linalg.pooling_nchw_max (a 3x3 window operand).
// CHECK-LABEL: func.func @max_pool
// CHECK:         %[[NINF:.*]] = arith.constant 0xff800000 : f32
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[NINF]] : f32) outs(%{{.*}} : tensor<1x2x9x9xf32>)
// CHECK-NEXT:    %[[XP:.*]] = tensor.insert_slice %x into %[[F]][0, 0, 1, 1] [1, 2, 6, 6] [1, 1, 1, 1]
// CHECK-NEXT:    %[[WIN:.*]] = tensor.empty() : tensor<3x3xf32>
// CHECK:         %[[Y:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, ((d2 * 2) + d4), ((d3 * 2) + d5))>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[XP]], %[[WIN]] : tensor<1x2x9x9xf32>, tensor<3x3xf32>) outs(%{{.*}} : tensor<1x2x4x4xf32>)
// CHECK-NEXT:    ^bb0(%[[V:.*]]: f32, %{{.*}}: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT:      %[[M:.*]] = arith.maximumf %[[ACC]], %[[V]] : f32
// CHECK-NEXT:      linalg.yield %[[M]] : f32
func.func @max_pool(%x: tensor<1x2x6x6xf32>) -> tensor<1x2x4x4xf32> {
  %y = dag.max_pool2d "pool"(%x) {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, ceil_mode} : (tensor<1x2x6x6xf32>) -> tensor<1x2x4x4xf32>
  func.return %y : tensor<1x2x4x4xf32>
}

// -----

// avg_pool2d without count_include_pad: the divisor varies at the borders, so the
// sums are divided by a 2x2 table [[4, 6], [6, 9]] (PyTorch's window sizes clipped
// to the input).
// CHECK-LABEL: func.func @avg_pool
// CHECK:         %[[T:.*]] = arith.constant dense<[4.000000e+00, 6.000000e+00, 6.000000e+00, 9.000000e+00]> : tensor<4xf32>
// CHECK-NEXT:    %[[T2:.*]] = tensor.expand_shape %[[T]] {{\[\[}}0 : i64, 1 : i64]] output_shape [2, 2]
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>]{{.*}} ins(%{{.*}}, %[[T2]] : tensor<1x1x2x2xf32>, tensor<2x2xf32>)
// CHECK:           arith.divf
func.func @avg_pool(%x: tensor<1x1x5x5xf32>) -> tensor<1x1x2x2xf32> {
  %y = dag.avg_pool2d "pool"(%x) {kernel = array<i64: 3, 3>, stride = array<i64: 3, 3>, padding = array<i64: 1, 1>} : (tensor<1x1x5x5xf32>) -> tensor<1x1x2x2xf32>
  func.return %y : tensor<1x1x2x2xf32>
}

// -----

// Global average pooling: a 7x7 window sum, then two divisions by 7 (PyTorch's
// sum / kh / kw).
// CHECK-LABEL: func.func @global_pool
// CHECK:         linalg.generic {{.*}} ins(%x, %{{.*}} : tensor<1x8x7x7xf32>, tensor<7x7xf32>)
// CHECK:         %[[S:.*]] = arith.constant 7.000000e+00 : f32
// CHECK-NEXT:    arith.divf %{{.*}}, %[[S]] : f32
// CHECK:         arith.divf
func.func @global_pool(%x: tensor<1x8x7x7xf32>) -> tensor<1x8x1x1xf32> {
  %y = dag.adaptive_avg_pool2d "gap"(%x) {output_size = array<i64: 1, 1>} : (tensor<1x8x7x7xf32>) -> tensor<1x8x1x1xf32>
  func.return %y : tensor<1x8x1x1xf32>
}
