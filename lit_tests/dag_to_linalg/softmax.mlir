// RUN: dag-opt %s --split-input-file -p convert-dag-to-linalg | filecheck %s

// softmax along dim 1, as PyTorch computes it: the max (from -inf), the sum of
// exp(x - max) (from 0; reassociable, as PyTorch's vectorized sums, so that LLVM
// vectorizes the loop with its exp), then exp(x - max) / sum. The reductions drop
// dim 1.
// CHECK-LABEL: func.func @softmax
// CHECK:         %[[NINF:.*]] = arith.constant 0xff800000 : f32
// CHECK-NEXT:    %[[M0:.*]] = linalg.fill ins(%[[NINF]] : f32) outs(%{{.*}} : tensor<2x4xf32>)
// CHECK-NEXT:    %[[M:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]} ins(%x : tensor<2x3x4xf32>) outs(%[[M0]] : tensor<2x4xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[S0:.*]] = linalg.fill {{.*}} -> tensor<2x4xf32>
// CHECK-NEXT:    %[[S:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%x, %[[M]] : tensor<2x3x4xf32>, tensor<2x4xf32>) outs(%[[S0]] : tensor<2x4xf32>)
// CHECK-NEXT:    ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[C:.*]]: f32):
// CHECK-NEXT:      %[[D:.*]] = arith.subf %[[A]], %[[B]] : f32
// CHECK-NEXT:      %[[E:.*]] = math.exp %[[D]] : f32
// CHECK-NEXT:      %[[F:.*]] = arith.addf %[[E]], %[[C]] fastmath<reassoc> : f32
// CHECK:         %[[Y:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]} ins(%x, %[[M]], %[[S]] : {{.*}})
// CHECK:           math.exp
// CHECK-NEXT:      arith.divf
// CHECK:         func.return %[[Y]]
func.func @softmax(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %y = dag.softmax "sm"(%x) {dim = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  func.return %y : tensor<2x3x4xf32>
}

// -----

// log_softmax ends with (x - max) - log(sum).
// CHECK-LABEL: func.func @log_softmax
// CHECK:         linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]}
// CHECK-NEXT:    ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[C:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[D:.*]] = arith.subf %[[A]], %[[B]] : f32
// CHECK-NEXT:      %[[L:.*]] = math.log %[[C]] : f32
// CHECK-NEXT:      %[[R:.*]] = arith.subf %[[D]], %[[L]] : f32
// CHECK-NEXT:      linalg.yield %[[R]] : f32
func.func @log_softmax(%x: tensor<3x5xf32>) -> tensor<3x5xf32> {
  %y = dag.log_softmax "lsm"(%x) {dim = 1 : i64} : (tensor<3x5xf32>) -> tensor<3x5xf32>
  func.return %y : tensor<3x5xf32>
}
