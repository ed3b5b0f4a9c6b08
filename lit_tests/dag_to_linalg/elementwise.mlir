// RUN: dag-opt %s --split-input-file -p convert-dag-to-linalg | filecheck %s

// Broadcasting is in the indexing maps: the 3x1 operand aligns with the trailing
// dims, its size-1 dim reads index 0 and the leading dim is not read.
// CHECK-LABEL: func.func @add_broadcast
// CHECK:         %[[E:.*]] = tensor.empty() : tensor<2x3x4xf32>
// CHECK-NEXT:    %[[Y:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d1, 0)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %b : tensor<2x3x4xf32>, tensor<3x1xf32>) outs(%[[E]] : tensor<2x3x4xf32>) {
// CHECK-NEXT:    ^bb0(%[[L:.*]]: f32, %[[R:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[L]], %[[R]] : f32
// CHECK-NEXT:      linalg.yield %[[S]] : f32
// CHECK-NEXT:    } -> tensor<2x3x4xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @add_broadcast(%x: tensor<2x3x4xf32>, %b: tensor<3x1xf32>) -> tensor<2x3x4xf32> {
  %y = dag.add "add"(%x, %b) : (tensor<2x3x4xf32>, tensor<3x1xf32>) -> tensor<2x3x4xf32>
  func.return %y : tensor<2x3x4xf32>
}

// -----

// A rank-0 operand has a map with no results.
// CHECK-LABEL: func.func @scalar_operand
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>, affine_map<(d0) -> (d0)>]
// CHECK:           arith.mulf
func.func @scalar_operand(%x: tensor<5xf32>, %s: tensor<f32>) -> tensor<5xf32> {
  %y = dag.mul "mul"(%x, %s) : (tensor<5xf32>, tensor<f32>) -> tensor<5xf32>
  func.return %y : tensor<5xf32>
}

// -----

// relu is maximumf with 0 (NaN propagates, as in torch); gelu uses erf.
// CHECK-LABEL: func.func @activations
// CHECK:         ^bb0(%[[A:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:      %[[R:.*]] = arith.maximumf %[[A]], %[[Z]] : f32
// CHECK-NEXT:      linalg.yield %[[R]] : f32
// CHECK:         ^bb0(%[[B:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[K:.*]] = arith.constant 0.707106769 : f32
// CHECK-NEXT:      %[[T:.*]] = arith.mulf %[[B]], %[[K]] : f32
// CHECK-NEXT:      %[[E:.*]] = math.erf %[[T]] : f32
func.func @activations(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = dag.relu "relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = dag.gelu "gelu"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %1 : tensor<4xf32>
}

// -----

// clamp without a max bound: only a maximumf.
// CHECK-LABEL: func.func @clamp_min
// CHECK:           %[[C:.*]] = arith.constant -5.000000e-01 : f32
// CHECK-NEXT:      %[[R:.*]] = arith.maximumf %{{.*}}, %[[C]] : f32
// CHECK-NEXT:      linalg.yield %[[R]] : f32
func.func @clamp_min(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = dag.clamp "c"(%x) {min = -0.5 : f64} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
