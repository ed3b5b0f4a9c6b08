// RUN: dag-opt %s --split-input-file -p convert-dag-to-linalg | filecheck %s

// Pure collapse (flatten).
// CHECK-LABEL: func.func @flatten
// CHECK-NEXT:    %[[Y:.*]] = tensor.collapse_shape %x {{\[\[}}0 : i64], [1 : i64, 2 : i64, 3 : i64]] : tensor<2x3x4x5xf32> into tensor<2x60xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @flatten(%x: tensor<2x3x4x5xf32>) -> tensor<2x60xf32> {
  %y = dag.reshape "flatten"(%x) : (tensor<2x3x4x5xf32>) -> tensor<2x60xf32>
  func.return %y : tensor<2x60xf32>
}

// -----

// Pure expand (unsqueeze).
// CHECK-LABEL: func.func @unsqueeze
// CHECK-NEXT:    %[[Y:.*]] = tensor.expand_shape %x {{\[\[}}0 : i64, 1 : i64], [2 : i64]] output_shape [1, 6, 4] : tensor<6x4xf32> into tensor<1x6x4xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @unsqueeze(%x: tensor<6x4xf32>) -> tensor<1x6x4xf32> {
  %y = dag.reshape "unsqueeze"(%x) : (tensor<6x4xf32>) -> tensor<1x6x4xf32>
  func.return %y : tensor<1x6x4xf32>
}

// -----

// No grouping maps 2x3x4 onto 4x6 dim by dim: collapse to the common group (24),
// then expand.
// CHECK-LABEL: func.func @regroup
// CHECK-NEXT:    %[[F:.*]] = tensor.collapse_shape %x {{\[\[}}0 : i64, 1 : i64, 2 : i64]] : tensor<2x3x4xf32> into tensor<24xf32>
// CHECK-NEXT:    %[[Y:.*]] = tensor.expand_shape %[[F]] {{\[\[}}0 : i64, 1 : i64]] output_shape [4, 6] : tensor<24xf32> into tensor<4x6xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @regroup(%x: tensor<2x3x4xf32>) -> tensor<4x6xf32> {
  %y = dag.reshape "r"(%x) : (tensor<2x3x4xf32>) -> tensor<4x6xf32>
  func.return %y : tensor<4x6xf32>
}

// -----

// To rank 0: a generic copy reading index (0, 0).
// CHECK-LABEL: func.func @to_scalar
// CHECK:         linalg.generic {indexing_maps = [affine_map<() -> (0, 0)>, affine_map<() -> ()>], iterator_types = []} ins(%x : tensor<1x1xf32>)
func.func @to_scalar(%x: tensor<1x1xf32>) -> tensor<f32> {
  %y = dag.reshape "r"(%x) : (tensor<1x1xf32>) -> tensor<f32>
  func.return %y : tensor<f32>
}

// -----

// expand (broadcast_to) is a generic copy through a broadcasting map.
// CHECK-LABEL: func.func @expand
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, 0)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<3x1xf32>)
func.func @expand(%x: tensor<3x1xf32>) -> tensor<2x3x4xf32> {
  %y = dag.expand "e"(%x) : (tensor<3x1xf32>) -> tensor<2x3x4xf32>
  func.return %y : tensor<2x3x4xf32>
}

// -----

// permute is linalg.transpose.
// CHECK-LABEL: func.func @permute
// CHECK:         linalg.transpose ins(%x:tensor<2x3x4xf32>) outs(%{{.*}}:tensor<4x2x3xf32>) permutation = [2, 0, 1]
func.func @permute(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  %y = dag.permute "p"(%x) {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  func.return %y : tensor<4x2x3xf32>
}
