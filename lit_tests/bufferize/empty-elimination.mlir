// RUN: dag-opt %s --split-input-file -p dagc-bufferize | filecheck %s

// Concatenation: each convolution computes straight into its slice of the
// out-parameter (empty-tensor elimination), so the inserts copy nothing.

// CHECK-LABEL: func.func @concat(
// CHECK-SAME:      %out: memref<1x3x3x3xf32>) {
// CHECK:         %[[S1:.*]] = memref.subview %out[0, 0, 0, 0] [1, 2, 3, 3] [1, 1, 1, 1]
// CHECK-NEXT:    linalg.fill ins(%zero : f32) outs(%[[S1]] : memref<1x2x3x3xf32, strided<[27, 9, 3, 1]>>)
// CHECK-NEXT:    linalg.conv_2d_nchw_fchw {{.*}} outs(%[[S1]] : memref<1x2x3x3xf32, strided<[27, 9, 3, 1]>>)
// CHECK-NEXT:    %[[S2:.*]] = memref.subview %out[0, 2, 0, 0] [1, 1, 3, 3] [1, 1, 1, 1]
// CHECK-NEXT:    linalg.fill ins(%zero : f32) outs(%[[S2]] : memref<1x1x3x3xf32, strided<[27, 9, 3, 1], offset: 18>>)
// CHECK-NEXT:    linalg.conv_2d_nchw_fchw {{.*}} outs(%[[S2]] : memref<1x1x3x3xf32, strided<[27, 9, 3, 1], offset: 18>>)
// CHECK-NEXT:    func.return
func.func @concat(%x: tensor<1x2x3x3xf32>, %w1: tensor<2x2x1x1xf32>, %w2: tensor<1x2x1x1xf32>) -> tensor<1x3x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<1x2x3x3xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %c1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w1 : tensor<1x2x3x3xf32>, tensor<2x2x1x1xf32>) outs(%f1 : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %e2 = tensor.empty() : tensor<1x1x3x3xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  %c2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w2 : tensor<1x2x3x3xf32>, tensor<1x2x1x1xf32>) outs(%f2 : tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  %r = tensor.concat dim(1) %c1, %c2 : (tensor<1x2x3x3xf32>, tensor<1x1x3x3xf32>) -> tensor<1x3x3x3xf32>
  return %r : tensor<1x3x3x3xf32>
}

// -----

// The same with the inserts written out, into a tensor.empty defined after both
// producers: it moves up so that the slices can be taken of it.

// CHECK-LABEL: func.func @insert_chain(
// CHECK:         %[[S1:.*]] = memref.subview %out[0, 0] [2, 4] [1, 1]
// CHECK-NEXT:    linalg.generic {{.*}} ins(%x : memref<2x4xf32>) outs(%[[S1]] : memref<2x4xf32, strided<[4, 1]>>)
// CHECK:         %[[S2:.*]] = memref.subview %out[2, 0] [2, 4] [1, 1]
// CHECK-NEXT:    linalg.generic {{.*}} ins(%x : memref<2x4xf32>) outs(%[[S2]] : memref<2x4xf32, strided<[4, 1], offset: 8>>)
// CHECK-NOT:     memref.copy
// CHECK:         func.return
#id = affine_map<(i, j) -> (i, j)>
func.func @insert_chain(%x: tensor<2x4xf32>) -> tensor<4x4xf32> {
  %e1 = tensor.empty() : tensor<2x4xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<2x4xf32>) outs(%e1 : tensor<2x4xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = math.exp %p : f32
    linalg.yield %s : f32
  } -> tensor<2x4xf32>
  %e2 = tensor.empty() : tensor<2x4xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<2x4xf32>) outs(%e2 : tensor<2x4xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = arith.negf %p : f32
    linalg.yield %s : f32
  } -> tensor<2x4xf32>
  %e = tensor.empty() : tensor<4x4xf32>
  %i1 = tensor.insert_slice %a into %e[0, 0] [2, 4] [1, 1] : tensor<2x4xf32> into tensor<4x4xf32>
  %i2 = tensor.insert_slice %b into %i1[2, 0] [2, 4] [1, 1] : tensor<2x4xf32> into tensor<4x4xf32>
  return %i2 : tensor<4x4xf32>
}

// -----

// Padding between two layers: the ReLU of the first convolution is computed in the
// interior of the padded buffer that the second convolution reads. No copy.

// CHECK-LABEL: func.func @pad_between_layers(
// CHECK:         %[[P:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x6x6xf32>
// CHECK-NEXT:    linalg.fill ins(%zero : f32) outs(%[[P]] : memref<1x2x6x6xf32>)
// CHECK-NEXT:    %[[IN:.*]] = memref.subview %[[P]][0, 0, 1, 1] [1, 2, 4, 4] [1, 1, 1, 1]
// CHECK-NEXT:    linalg.fill ins(%zero : f32) outs(%[[IN]] : memref<1x2x4x4xf32, strided<[72, 36, 6, 1], offset: 7>>)
// CHECK-NEXT:    linalg.conv_2d_nchw_fchw {{.*}} ins(%x, %w1 : {{.*}}) outs(%[[IN]] : memref<1x2x4x4xf32, strided<[72, 36, 6, 1], offset: 7>>)
// CHECK-NEXT:    linalg.generic {{.*}} outs(%[[IN]] : memref<1x2x4x4xf32, strided<[72, 36, 6, 1], offset: 7>>)
// CHECK:         linalg.fill ins(%zero : f32) outs(%out : memref<1x3x4x4xf32>)
// CHECK-NEXT:    linalg.conv_2d_nchw_fchw {{.*}} ins(%[[P]], %w2 : memref<1x2x6x6xf32>, memref<3x2x3x3xf32>) outs(%out : memref<1x3x4x4xf32>)
// CHECK-NEXT:    memref.dealloc %[[P]]
// CHECK-NEXT:    func.return
func.func @pad_between_layers(%x: tensor<1x2x4x4xf32>, %w1: tensor<2x2x1x1xf32>, %w2: tensor<3x2x3x3xf32>) -> tensor<1x3x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<1x2x4x4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %c1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w1 : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) outs(%f1 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %r1 = linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs(%c1 : tensor<1x2x4x4xf32>) {
  ^bb0(%o: f32):
    %m = arith.maximumf %o, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x2x4x4xf32>
  %p = tensor.pad %r1 low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x4x4xf32> to tensor<1x2x6x6xf32>
  %e2 = tensor.empty() : tensor<1x3x4x4xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  %c2 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%p, %w2 : tensor<1x2x6x6xf32>, tensor<3x2x3x3xf32>) outs(%f2 : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  return %c2 : tensor<1x3x4x4xf32>
}
