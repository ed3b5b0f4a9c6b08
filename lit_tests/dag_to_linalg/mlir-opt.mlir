// REQUIRES: mlir-opt-22
// RUN: dag-opt %s -p convert-dag-to-linalg | mlir-opt-22 | filecheck %s

// Upstream MLIR 22 parses and verifies the lowered IR (named ops, generics with
// broadcasting and reversed maps, reshapes, slices, -inf constants).
// CHECK-LABEL: func.func @f
// CHECK:         linalg.conv_2d_nchw_fchw
// CHECK:         tensor.expand_shape
// CHECK:         linalg.conv_2d_ngchw_gfchw
// CHECK:         linalg.matmul
// CHECK:         linalg.index
// CHECK:         tensor.extract
// CHECK:         tensor.insert_slice
func.func @f(%x: tensor<1x4x6x6xf32>, %w: tensor<8x4x3x3xf32>, %dw: tensor<8x1x3x3xf32>, %fc: tensor<5x8xf32>) -> (tensor<1x5xf32>, tensor<1x8x5x4xf32>, tensor<1x4x6x9xf32>) {
  %c = dag.conv2d "c"(%x, %w) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>) -> tensor<1x8x6x6xf32>
  %d = dag.conv2d "dw"(%c, %dw) {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 8 : i64} : (tensor<1x8x6x6xf32>, tensor<8x1x3x3xf32>) -> tensor<1x8x3x3xf32>
  %m = dag.max_pool2d "pool"(%d) {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, ceil_mode} : (tensor<1x8x3x3xf32>) -> tensor<1x8x2x2xf32>
  %g = dag.adaptive_avg_pool2d "gap"(%m) {output_size = array<i64: 1, 1>} : (tensor<1x8x2x2xf32>) -> tensor<1x8x1x1xf32>
  %f = dag.reshape "flatten"(%g) : (tensor<1x8x1x1xf32>) -> tensor<1x8xf32>
  %l = dag.linear "fc"(%f, %fc) : (tensor<1x8xf32>, tensor<5x8xf32>) -> tensor<1x5xf32>
  %s = dag.log_softmax "lsm"(%l) {dim = 1 : i64} : (tensor<1x5xf32>) -> tensor<1x5xf32>
  %u = dag.interpolate "up"(%d) {mode = "bilinear"} : (tensor<1x8x3x3xf32>) -> tensor<1x8x5x4xf32>
  %p = dag.pad "pad"(%x) {pads = array<i64: 2, 1>, mode = "reflect"} : (tensor<1x4x6x6xf32>) -> tensor<1x4x6x9xf32>
  func.return %s, %u, %p : tensor<1x5xf32>, tensor<1x8x5x4xf32>, tensor<1x4x6x9xf32>
}
