// RUN: dag-opt %s --split-input-file -p convert-dag-to-linalg | filecheck %s

// linear on a 3-D input: rows collapsed, weight transposed, linalg.matmul
// accumulating into the broadcast bias, result expanded back.
// CHECK-LABEL: func.func @linear
// CHECK:         %[[W:.*]] = arith.constant dense_resource<fc_weight> : tensor<5x8xf32>
// CHECK-NEXT:    %[[B:.*]] = arith.constant dense_resource<fc_bias> : tensor<5xf32>
// CHECK-NEXT:    %[[X2:.*]] = tensor.collapse_shape %x {{\[\[}}0 : i64, 1 : i64], [2 : i64]] : tensor<2x3x8xf32> into tensor<6x8xf32>
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<8x5xf32>
// CHECK-NEXT:    %[[WT:.*]] = linalg.transpose ins(%[[W]]:tensor<5x8xf32>) outs(%[[E]]:tensor<8x5xf32>) permutation = [1, 0]
// CHECK:         %[[ACC:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<5xf32>) outs(%{{.*}} : tensor<6x5xf32>)
// CHECK:         %[[Y2:.*]] = linalg.matmul ins(%[[X2]], %[[WT]] : tensor<6x8xf32>, tensor<8x5xf32>) outs(%[[ACC]] : tensor<6x5xf32>) -> tensor<6x5xf32>
// CHECK-NEXT:    %[[Y:.*]] = tensor.expand_shape %[[Y2]] {{\[\[}}0 : i64, 1 : i64], [2 : i64]] output_shape [2, 3, 5] : tensor<6x5xf32> into tensor<2x3x5xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @linear(%x: tensor<2x3x8xf32>) -> tensor<2x3x5xf32> {
  %w = dag.constant "fc.weight"() {value = dense_resource<fc_weight> : tensor<5x8xf32>} : () -> tensor<5x8xf32>
  %b = dag.constant "fc.bias"() {value = dense_resource<fc_bias> : tensor<5xf32>} : () -> tensor<5xf32>
  %y = dag.linear "fc"(%x, %w, %b) : (tensor<2x3x8xf32>, tensor<5x8xf32>, tensor<5xf32>) -> tensor<2x3x5xf32>
  func.return %y : tensor<2x3x5xf32>
}

// -----

// A batched matmul with broadcast batch dims is one generic: the size-1 batch dim
// of the lhs reads index 0, the rhs has no leading batch dim.
// CHECK-LABEL: func.func @batched
// CHECK:         %[[ACC:.*]] = linalg.fill {{.*}} -> tensor<2x5x3x2xf32>
// CHECK-NEXT:    %[[Y:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, 0, d2, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d1, d4, d3)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME:        ins(%a, %b : tensor<2x1x3x4xf32>, tensor<5x4x2xf32>) outs(%[[ACC]] : tensor<2x5x3x2xf32>)
// CHECK-NEXT:    ^bb0(%[[L:.*]]: f32, %[[R:.*]]: f32, %[[O:.*]]: f32):
// CHECK-NEXT:      %[[P:.*]] = arith.mulf %[[L]], %[[R]] : f32
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[O]], %[[P]] : f32
// CHECK-NEXT:      linalg.yield %[[S]] : f32
func.func @batched(%a: tensor<2x1x3x4xf32>, %b: tensor<5x4x2xf32>) -> tensor<2x5x3x2xf32> {
  %y = dag.matmul "mm"(%a, %b) : (tensor<2x1x3x4xf32>, tensor<5x4x2xf32>) -> tensor<2x5x3x2xf32>
  func.return %y : tensor<2x5x3x2xf32>
}
