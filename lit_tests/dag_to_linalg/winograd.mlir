// RUN: dag-opt %s --split-input-file -p convert-dag-to-linalg | filecheck %s
// Upstream MLIR parses and verifies the lowering (floordiv / mod in the maps).
// RUN: %if mlir-opt-22 %{ dag-opt %s --split-input-file -p convert-dag-to-linalg | mlir-opt-22 --split-input-file | filecheck %s --check-prefix=MLIR %}

// dag.winograd_conv2d, OH x OW = 5 x 6: TH x TW = 3 x 3 tiles of 2 x 2 outputs, on
// the input zero-padded to 2*TH + 2 x 2*TW + 2 = 8 x 8 (1 before, 2 and 1 after).
// 1. The input transform V[a, b, c, n, ty, tx] = sum_{r, s} BT[a, r] BT[b, s]
//    x[n, c, 2 ty + r, 2 tx + s]: loops (a, b, c, n, ty, tx, r, s), B^T a
//    constant operand read twice.
// 2. The 16 GEMMs U[p] (F x C) @ V[p] (C x N*T), one batched generic on the
//    filter and V collapsed to 16 x F x C and 16 x C x N*TH*TW.
// 3. The output transform y[n, f, i, j] += sum_{a, b} AT[i mod 2, a] AT[j mod 2, b]
//    M[a, b, f, n, i floordiv 2, j floordiv 2] over the 5 x 6 outputs (the tiles'
//    last row past OH is never read), into the bias broadcast.
// CHECK-LABEL: func.func @winograd
// CHECK:         %[[E:.*]] = tensor.empty() : tensor<1x2x8x8xf32>
// CHECK:         %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<1x2x8x8xf32>)
// CHECK-NEXT:    %[[XP:.*]] = tensor.insert_slice %x into %[[Z]][0, 0, 1, 1] [1, 2, 5, 6] [1, 1, 1, 1] : tensor<1x2x5x6xf32> into tensor<1x2x8x8xf32>
// CHECK-NEXT:    %[[BT:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 0.000000e+00, -1.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00, 1.000000e+00, 0.000000e+00], [0.000000e+00, -1.000000e+00, 1.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00, 0.000000e+00, -1.000000e+00]]> : tensor<4x4xf32>
// CHECK-NEXT:    %[[AT:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 1.000000e+00, 1.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00, -1.000000e+00, -1.000000e+00]]> : tensor<2x4xf32>
// CHECK:         %[[V0:.*]] = linalg.fill {{.*}} -> tensor<4x4x2x1x3x3xf32>
// CHECK-NEXT:    %[[V:.*]] = linalg.generic {indexing_maps = [
// CHECK-SAME:        affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d3, d2, ((d4 * 2) + d6), ((d5 * 2) + d7))>,
// CHECK-SAME:        affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d6)>,
// CHECK-SAME:        affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d7)>,
// CHECK-SAME:        affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4, d5)>],
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
// CHECK-SAME:        ins(%[[XP]], %[[BT]], %[[BT]] : tensor<1x2x8x8xf32>, tensor<4x4xf32>, tensor<4x4xf32>) outs(%[[V0]] : tensor<4x4x2x1x3x3xf32>)
// CHECK:           arith.mulf
// CHECK-NEXT:      arith.mulf
// CHECK-NEXT:      arith.addf
// CHECK:         %[[U16:.*]] = tensor.collapse_shape %u {{.*}} : tensor<4x4x3x2xf32> into tensor<16x3x2xf32>
// CHECK-NEXT:    %[[V16:.*]] = tensor.collapse_shape %[[V]] {{.*}} : tensor<4x4x2x1x3x3xf32> into tensor<16x2x9xf32>
// CHECK:         %[[M0:.*]] = linalg.fill {{.*}} -> tensor<16x3x9xf32>
// CHECK-NEXT:    %[[M:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME:        ins(%[[U16]], %[[V16]] : tensor<16x3x2xf32>, tensor<16x2x9xf32>) outs(%[[M0]] : tensor<16x3x9xf32>)
// CHECK:         %[[M6:.*]] = tensor.expand_shape %[[M]] {{.*}} output_shape [4, 4, 3, 1, 3, 3] : tensor<16x3x9xf32> into tensor<4x4x3x1x3x3xf32>
// CHECK:         %[[INIT:.*]] = linalg.generic {{.*}} ins(%b : tensor<3xf32>) outs(%{{.*}} : tensor<1x3x5x6xf32>)
// CHECK:         %[[Y:.*]] = linalg.generic {indexing_maps = [
// CHECK-SAME:        affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5, d1, d0, (d2 floordiv 2), (d3 floordiv 2))>,
// CHECK-SAME:        affine_map<(d0, d1, d2, d3, d4, d5) -> ((d2 mod 2), d4)>,
// CHECK-SAME:        affine_map<(d0, d1, d2, d3, d4, d5) -> ((d3 mod 2), d5)>,
// CHECK-SAME:        affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>],
// CHECK-SAME:        iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
// CHECK-SAME:        ins(%[[M6]], %[[AT]], %[[AT]] : tensor<4x4x3x1x3x3xf32>, tensor<2x4xf32>, tensor<2x4xf32>) outs(%[[INIT]] : tensor<1x3x5x6xf32>)
// CHECK:           arith.mulf
// CHECK-NEXT:      arith.mulf
// CHECK-NEXT:      arith.addf
// CHECK:         func.return %[[Y]]
// MLIR:       #[[OUT:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5, d1, d0, d2 floordiv 2, d3 floordiv 2)>
// MLIR-NEXT:  #[[ROW:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d2 mod 2, d4)>
// MLIR-LABEL: func.func @winograd
// MLIR:         linalg.generic {indexing_maps = [#[[OUT]], #[[ROW]],
func.func @winograd(%x: tensor<1x2x5x6xf32>, %u: tensor<4x4x3x2xf32>, %b: tensor<3xf32>) -> tensor<1x3x5x6xf32> {
  %y = dag.winograd_conv2d "c"(%x, %u, %b) {padding = array<i64: 1, 1>} : (tensor<1x2x5x6xf32>, tensor<4x4x3x2xf32>, tensor<3xf32>) -> tensor<1x3x5x6xf32>
  func.return %y : tensor<1x3x5x6xf32>
}

// -----

// No padding and no bias, a batch of 2: the padded input only grows to the tiles'
// extent (7 x 6 -> 5 x 4 outputs, 3 x 2 tiles, 8 x 6), the GEMMs' columns hold
// both images' tiles (N*T = 12), and the output transform accumulates into zeros.
// CHECK-LABEL: func.func @no_padding
// CHECK:         tensor.insert_slice %x into %{{.*}}[0, 0, 0, 0] [2, 2, 7, 6] [1, 1, 1, 1] : tensor<2x2x7x6xf32> into tensor<2x2x8x6xf32>
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<4x4x2x2x3x2xf32>)
// CHECK:         tensor.collapse_shape {{.*}} into tensor<16x2x12xf32>
// CHECK:         linalg.generic {{.*}} outs(%{{.*}} : tensor<16x3x12xf32>)
// CHECK:         %[[ZERO:.*]] = linalg.fill {{.*}} -> tensor<2x3x5x4xf32>
// CHECK-NEXT:    %[[Y:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<4x4x3x2x3x2xf32>, tensor<2x4xf32>, tensor<2x4xf32>) outs(%[[ZERO]] : tensor<2x3x5x4xf32>)
// CHECK:         func.return %[[Y]]
// MLIR:       floordiv 2
// MLIR-LABEL: func.func @no_padding
func.func @no_padding(%x: tensor<2x2x7x6xf32>, %u: tensor<4x4x3x2xf32>) -> tensor<2x3x5x4xf32> {
  %y = dag.winograd_conv2d "c"(%x, %u) {padding = array<i64: 0, 0>} : (tensor<2x2x7x6xf32>, tensor<4x4x3x2xf32>) -> tensor<2x3x5x4xf32>
  func.return %y : tensor<2x3x5x4xf32>
}
