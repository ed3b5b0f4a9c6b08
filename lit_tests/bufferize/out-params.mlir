// RUN: dag-opt %s --split-input-file -p dagc-bufferize | filecheck %s

// A convolution with its bias and ReLU, returned: the result becomes an
// out-parameter, and the fill, the convolution and the in-place bias add all write
// straight into it. Only the padded input needs a buffer (the argument is copied
// into its interior).

// CHECK-LABEL: func.func @conv_bias_relu(
// CHECK-SAME:      %x: memref<1x2x5x5xf32>, %w: memref<3x2x3x3xf32>, %b: memref<3xf32>, %out: memref<1x3x3x3xf32>) {
// CHECK:         %[[P:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x2x7x7xf32>
// CHECK-NEXT:    linalg.fill ins(%zero : f32) outs(%[[P]] : memref<1x2x7x7xf32>)
// CHECK-NEXT:    %[[IN:.*]] = memref.subview %[[P]][0, 0, 1, 1] [1, 2, 5, 5] [1, 1, 1, 1] : memref<1x2x7x7xf32> to memref<1x2x5x5xf32, strided<[98, 49, 7, 1], offset: 8>>
// CHECK-NEXT:    "memref.copy"(%x, %[[IN]])
// CHECK-NEXT:    linalg.fill ins(%zero : f32) outs(%out : memref<1x3x3x3xf32>)
// CHECK-NEXT:    linalg.conv_2d_nchw_fchw {{.*}} ins(%[[P]], %w : memref<1x2x7x7xf32>, memref<3x2x3x3xf32>) outs(%out : memref<1x3x3x3xf32>)
// CHECK-NEXT:    memref.dealloc %[[P]] : memref<1x2x7x7xf32>
// CHECK-NEXT:    linalg.generic {{.*}} ins(%out, %b : memref<1x3x3x3xf32>, memref<3xf32>) outs(%out : memref<1x3x3x3xf32>)
// CHECK:         func.return
// CHECK-NEXT:  }
func.func @conv_bias_relu(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x5x5xf32> to tensor<1x2x7x7xf32>
  %e = tensor.empty() : tensor<1x3x3x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x3x3xf32>) -> tensor<1x3x3x3xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%p, %w : tensor<1x2x7x7xf32>, tensor<3x2x3x3xf32>) outs(%f : tensor<1x3x3x3xf32>) -> tensor<1x3x3x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, c, h, w)>, affine_map<(n, c, h, w) -> (c)>, affine_map<(n, c, h, w) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c, %b : tensor<1x3x3x3xf32>, tensor<3xf32>) outs(%c : tensor<1x3x3x3xf32>) {
  ^bb0(%in: f32, %bias: f32, %out: f32):
    %s = arith.addf %in, %bias : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x3x3x3xf32>
  return %r : tensor<1x3x3x3xf32>
}

// -----

// Several results: tensor results become out-parameters in order, a scalar result
// stays a result. A returned argument, and a value returned twice, are copied.

// CHECK-LABEL: func.func @results(
// CHECK-SAME:      %x: memref<4xf32>, %out: memref<4xf32>, %out_1: memref<4xf32>, %out_2: memref<4xf32>) -> f32 {
// CHECK:         linalg.generic {{.*}} ins(%x : memref<4xf32>) outs(%out : memref<4xf32>)
// CHECK:         "memref.copy"(%x, %out_1)
// CHECK-NEXT:    "memref.copy"(%out, %out_2)
// CHECK-NEXT:    func.return %one : f32
#id = affine_map<(i) -> (i)>
func.func @results(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, f32) {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = arith.addf %p, %one : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %a, %x, %a, %one : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, f32
}

// -----

// A result computed from another result: %r0 is computed in its out-parameter,
// %r1 cannot overwrite it, so %r0 is copied into %r1's out-parameter first.

// CHECK-LABEL: func.func @result_of_result(
// CHECK-SAME:      %x: memref<4xf32>, %out: memref<4xf32>, %out_1: memref<4xf32>) {
// CHECK-NEXT:    %two = arith.constant
// CHECK-NEXT:    linalg.generic {{.*}} ins(%x : memref<4xf32>) outs(%out_1 : memref<4xf32>)
// CHECK:         "memref.copy"(%out_1, %out)
// CHECK-NEXT:    linalg.generic {{.*}} outs(%out : memref<4xf32>)
// CHECK:         func.return
func.func @result_of_result(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %two = arith.constant 2.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %r0 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = arith.addf %p, %two : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %r1 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>], iterator_types = ["parallel"]} outs(%r0 : tensor<4xf32>) {
  ^bb0(%o: f32):
    %m = arith.mulf %o, %two : f32
    linalg.yield %m : f32
  } -> tensor<4xf32>
  return %r1, %r0 : tensor<4xf32>, tensor<4xf32>
}

// -----

// A result reached through reshapes: the matmul writes a collapsed view of the
// out-parameter, nothing is allocated or copied.

// CHECK-LABEL: func.func @linear(
// CHECK-SAME:      %x: memref<2x2x3xf32>, %w: memref<3x4xf32>, %b: memref<4xf32>, %out: memref<2x2x4xf32>) {
// CHECK-NEXT:    %[[X:.*]] = memref.collapse_shape %x {{\[\[}}0 : i64, 1 : i64], [2 : i64]] : memref<2x2x3xf32> into memref<4x3xf32>
// CHECK-NEXT:    %[[OUT:.*]] = memref.collapse_shape %out {{\[\[}}0 : i64, 1 : i64], [2 : i64]] : memref<2x2x4xf32> into memref<4x4xf32>
// CHECK-NEXT:    linalg.broadcast ins(%b:memref<4xf32>) outs(%[[OUT]]:memref<4x4xf32>) dimensions = [0]
// CHECK-NEXT:    linalg.matmul ins(%[[X]], %w : memref<4x3xf32>, memref<3x4xf32>) outs(%[[OUT]] : memref<4x4xf32>)
// CHECK-NEXT:    func.return
func.func @linear(%x: tensor<2x2x3xf32>, %w: tensor<3x4xf32>, %b: tensor<4xf32>) -> tensor<2x2x4xf32> {
  %x2 = tensor.collapse_shape %x [[0, 1], [2]] : tensor<2x2x3xf32> into tensor<4x3xf32>
  %e = tensor.empty() : tensor<4x4xf32>
  %bb = linalg.broadcast ins(%b : tensor<4xf32>) outs(%e : tensor<4x4xf32>) dimensions = [0]
  %m = linalg.matmul ins(%x2, %w : tensor<4x3xf32>, tensor<3x4xf32>) outs(%bb : tensor<4x4xf32>) -> tensor<4x4xf32>
  %r = tensor.expand_shape %m [[0, 1], [2]] output_shape [2, 2, 4] : tensor<4x4xf32> into tensor<2x2x4xf32>
  return %r : tensor<2x2x4xf32>
}
