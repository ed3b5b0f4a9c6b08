// RUN: dag-opt %s --split-input-file -p dagc-bufferize | filecheck %s

// Slices are views: extract_slice is a memref.subview (rank-reducing here), read in
// place; an insert_slice copies its source into a subview of its destination.

// CHECK-LABEL: func.func @slices(
// CHECK-SAME:      %x: memref<4x6xf32>, %y: memref<3xf32>, %out: memref<6xf32>, %out_1: memref<4x6xf32>) {
// CHECK:         %[[S:.*]] = memref.subview %x[1, 2] [1, 6] [1, 1]
// CHECK-SAME:      : memref<4x6xf32> to memref<6xf32, strided<[1], offset: 8>>
// CHECK-NEXT:    linalg.generic {{.*}} ins(%[[S]] : memref<6xf32, strided<[1], offset: 8>>) outs(%out : memref<6xf32>)
// CHECK:         "memref.copy"(%x, %out_1)
// CHECK-NEXT:    %[[D:.*]] = memref.subview %out_1[3, 0] [1, 3] [1, 2] : memref<4x6xf32> to memref<3xf32, strided<[2], offset: 18>>
// CHECK-NEXT:    "memref.copy"(%y, %[[D]])
// CHECK-NEXT:    func.return
func.func @slices(%x: tensor<4x6xf32>, %y: tensor<3xf32>) -> (tensor<6xf32>, tensor<4x6xf32>) {
  %two = arith.constant 2.0 : f32
  %s = tensor.extract_slice %x[1, 2] [1, 6] [1, 1] : tensor<4x6xf32> to tensor<6xf32>
  %e = tensor.empty() : tensor<6xf32>
  %d = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%s : tensor<6xf32>) outs(%e : tensor<6xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %two : f32
    linalg.yield %m : f32
  } -> tensor<6xf32>
  %i = tensor.insert_slice %y into %x[3, 0] [1, 3] [1, 2] : tensor<3xf32> into tensor<4x6xf32>
  return %d, %i : tensor<6xf32>, tensor<4x6xf32>
}

// -----

// Reshapes of strided views keep the strides; a collapse of dimensions that are not
// contiguous in memory copies the view first.

// CHECK-LABEL: func.func @strided_reshapes(
// CHECK:         %[[ROWS:.*]] = memref.subview %x[0, 0, 0] [2, 2, 4] [1, 1, 1] : memref<2x4x4xf32> to memref<2x2x4xf32, strided<[16, 4, 1]>>
// CHECK-NEXT:    %[[R:.*]] = memref.collapse_shape %[[ROWS]] {{\[\[}}0 : i64], [1 : i64, 2 : i64]] : memref<2x2x4xf32, strided<[16, 4, 1]>> into memref<2x8xf32, strided<[16, 1]>>
// CHECK-NEXT:    %[[E:.*]] = memref.expand_shape %[[R]] {{\[\[}}0 : i64, 1 : i64], [2 : i64]] output_shape [2, 1, 8] : memref<2x8xf32, strided<[16, 1]>> into memref<2x1x8xf32, strided<[16, 16, 1]>>
// CHECK:         %[[COLS:.*]] = memref.subview %x[0, 0, 0] [2, 4, 2] [1, 1, 1] : memref<2x4x4xf32> to memref<2x4x2xf32, strided<[16, 4, 1]>>
// CHECK-NEXT:    %[[C:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x4x2xf32>
// CHECK-NEXT:    "memref.copy"(%[[COLS]], %[[C]])
// CHECK-NEXT:    memref.collapse_shape %[[C]] {{\[\[}}0 : i64], [1 : i64, 2 : i64]] : memref<2x4x2xf32> into memref<2x8xf32>
func.func @strided_reshapes(%x: tensor<2x4x4xf32>) -> (tensor<2x1x8xf32>, tensor<2x8xf32>) {
  %rows = tensor.extract_slice %x[0, 0, 0] [2, 2, 4] [1, 1, 1] : tensor<2x4x4xf32> to tensor<2x2x4xf32>
  %r = tensor.collapse_shape %rows [[0], [1, 2]] : tensor<2x2x4xf32> into tensor<2x8xf32>
  %e = tensor.expand_shape %r [[0, 1], [2]] output_shape [2, 1, 8] : tensor<2x8xf32> into tensor<2x1x8xf32>
  %cols = tensor.extract_slice %x[0, 0, 0] [2, 4, 2] [1, 1, 1] : tensor<2x4x4xf32> to tensor<2x4x2xf32>
  %c = tensor.collapse_shape %cols [[0], [1, 2]] : tensor<2x4x2xf32> into tensor<2x8xf32>
  return %e, %c : tensor<2x1x8xf32>, tensor<2x8xf32>
}
