// RUN: dag-opt %s --split-input-file -p convert-dag-to-linalg | filecheck %s

// concat: tensor.empty and one insert_slice per input at its offset.
// CHECK-LABEL: func.func @concat
// CHECK-NEXT:    %[[E:.*]] = tensor.empty() : tensor<2x7xf32>
// CHECK-NEXT:    %[[A:.*]] = tensor.insert_slice %a into %[[E]][0, 0] [2, 3] [1, 1] : tensor<2x3xf32> into tensor<2x7xf32>
// CHECK-NEXT:    %[[Y:.*]] = tensor.insert_slice %b into %[[A]][0, 3] [2, 4] [1, 1] : tensor<2x4xf32> into tensor<2x7xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @concat(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) -> tensor<2x7xf32> {
  %y = dag.concat "cat"(%a, %b) {dim = 1 : i64} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<2x7xf32>
  func.return %y : tensor<2x7xf32>
}

// -----

// slice with a step: the step is the stride of extract_slice.
// CHECK-LABEL: func.func @slice_step
// CHECK-NEXT:    %[[Y:.*]] = tensor.extract_slice %x[0, 1] [5, 3] [1, 2] : tensor<5x6xf32> to tensor<5x3xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @slice_step(%x: tensor<5x6xf32>) -> tensor<5x3xf32> {
  %y = dag.slice "s"(%x) {dim = 1 : i64, start = 1 : i64, end = 6 : i64, step = 2 : i64} : (tensor<5x6xf32>) -> tensor<5x3xf32>
  func.return %y : tensor<5x3xf32>
}

// -----

// select: a size-1 slice, then collapse_shape drops the dim.
// CHECK-LABEL: func.func @select
// CHECK-NEXT:    %[[S:.*]] = tensor.extract_slice %x[0, 2, 0] [3, 1, 5] [1, 1, 1] : tensor<3x4x5xf32> to tensor<3x1x5xf32>
// CHECK-NEXT:    %[[Y:.*]] = tensor.collapse_shape %[[S]] {{\[\[}}0 : i64], [1 : i64, 2 : i64]] : tensor<3x1x5xf32> into tensor<3x5xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @select(%x: tensor<3x4x5xf32>) -> tensor<3x5xf32> {
  %y = dag.select "sel"(%x) {dim = 1 : i64, index = 2 : i64} : (tensor<3x4x5xf32>) -> tensor<3x5xf32>
  func.return %y : tensor<3x5xf32>
}

// -----

// Constant padding is fill + insert_slice; a negative pad crops afterwards.
// CHECK-LABEL: func.func @pad_constant
// CHECK:         %[[V:.*]] = arith.constant 1.500000e+00 : f32
// CHECK-NEXT:    %[[F:.*]] = linalg.fill ins(%[[V]] : f32) outs(%{{.*}} : tensor<2x7xf32>)
// CHECK-NEXT:    %[[P:.*]] = tensor.insert_slice %x into %[[F]][0, 0] [2, 5] [1, 1] : tensor<2x5xf32> into tensor<2x7xf32>
// CHECK-NEXT:    %[[Y:.*]] = tensor.extract_slice %[[P]][0, 1] [2, 6] [1, 1] : tensor<2x7xf32> to tensor<2x6xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @pad_constant(%x: tensor<2x5xf32>) -> tensor<2x6xf32> {
  %y = dag.pad "pad"(%x) {pads = array<i64: -1, 2>, value = 1.5 : f64} : (tensor<2x5xf32>) -> tensor<2x6xf32>
  func.return %y : tensor<2x6xf32>
}

// -----

// Reflect padding: the edge pieces are generics reading the input through
// reversed (affine) maps, inserted around it.
// CHECK-LABEL: func.func @pad_reflect
// CHECK:         %[[M:.*]] = tensor.insert_slice %x into %{{.*}}[0, 2] [2, 5] [1, 1] : tensor<2x5xf32> into tensor<2x8xf32>
// CHECK-NEXT:    %{{.*}} = tensor.empty() : tensor<2x2xf32>
// CHECK-NEXT:    %[[L:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, ((d1 * -1) + 2))>, affine_map<(d0, d1) -> (d0, d1)>]
// CHECK:         %[[ML:.*]] = tensor.insert_slice %[[L]] into %[[M]][0, 0] [2, 2] [1, 1]
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, ((d1 * -1) + 3))>, affine_map<(d0, d1) -> (d0, d1)>]
// CHECK:         tensor.insert_slice %[[R]] into %[[ML]][0, 7] [2, 1] [1, 1]
func.func @pad_reflect(%x: tensor<2x5xf32>) -> tensor<2x8xf32> {
  %y = dag.pad "pad"(%x) {pads = array<i64: 2, 1>, mode = "reflect"} : (tensor<2x5xf32>) -> tensor<2x8xf32>
  func.return %y : tensor<2x8xf32>
}
