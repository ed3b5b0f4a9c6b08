// dag-prune-channels: coupled channel groups pruned on the IR.
// RUN: dag-opt %s --split-input-file -p 'dag-prune-channels{ratio=0.5}' | filecheck %s
// RUN: dag-opt %s --split-input-file -p 'dag-prune-channels{ratio=0.75 min-channels=2}' | filecheck %s --check-prefix=MIN

// c1's filters have L1 norms 1, 4, 2, 3: ratio 0.5 removes filters 0 and 2 from
// c1, the batch norm's statistics and c2's input channels. c2's output is the
// model output and is kept.
// CHECK-LABEL: func.func @chain
// CHECK-NEXT:    dag.constant "c1.weight"() {value = dense<{{\[\[\[\[2\.000000e\+00\]\], \[\[2\.000000e\+00\]\]\], \[\[\[1\.500000e\+00\]\], \[\[1\.500000e\+00\]\]\]\]}}> : tensor<2x2x1x1xf32>}
// CHECK:         dag.conv2d "c1"(%x, %{{.*}}) {{.*}} -> tensor<1x2x4x4xf32>
// CHECK-NEXT:    dag.constant "bn1.running_mean"() {value = dense<[1.000000e+00, 3.000000e+00]> : tensor<2xf32>}
// CHECK:         dag.batch_norm "bn1"({{.*}}) {{.*}} : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
// CHECK:         dag.relu "r1"
// c2 keeps its input channels 1 and 3.
// CHECK-NEXT:    dag.constant "c2.weight"() {value = dense<{{\[\[\[\[2\.000000e\+00\]\], \[\[4\.000000e\+00\]\]\], \[\[\[6\.000000e\+00\]\], \[\[8\.000000e\+00\]\]\]\]}}> : tensor<2x2x1x1xf32>}
// CHECK-NEXT:    dag.conv2d "c2"({{.*}}) {{.*}} : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32>

// MIN-LABEL: func.func @chain
// MIN:         dag.conv2d "c1"(%x, %{{.*}}) {{.*}} -> tensor<1x2x4x4xf32>
func.func @chain(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w1 = dag.constant "c1.weight"() {value = dense<[[[[0.5]], [[0.5]]], [[[2.0]], [[2.0]]], [[[1.0]], [[1.0]]], [[[1.5]], [[1.5]]]]> : tensor<4x2x1x1xf32>} : () -> tensor<4x2x1x1xf32>
  %y1 = dag.conv2d "c1"(%x, %w1) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<4x2x1x1xf32>) -> tensor<1x4x4x4xf32>
  %m = dag.constant "bn1.running_mean"() {value = dense<[0.0, 1.0, 2.0, 3.0]> : tensor<4xf32>} : () -> tensor<4xf32>
  %v = dag.constant "bn1.running_var"() {value = dense<1.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %g = dag.constant "bn1.weight"() {value = dense<1.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %b = dag.constant "bn1.bias"() {value = dense<0.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %z = dag.batch_norm "bn1"(%y1, %m, %v, %g, %b) {eps = 1.0e-05 : f64} : (tensor<1x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
  %r = dag.relu "r1"(%z) : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %w2 = dag.constant "c2.weight"() {value = dense<[[[[1.0]], [[2.0]], [[3.0]], [[4.0]]], [[[5.0]], [[6.0]], [[7.0]], [[8.0]]]]> : tensor<2x4x1x1xf32>} : () -> tensor<2x4x1x1xf32>
  %y2 = dag.conv2d "c2"(%r, %w2) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x4x4x4xf32>, tensor<2x4x1x1xf32>) -> tensor<1x2x4x4xf32>
  func.return %y2 : tensor<1x2x4x4xf32>
}

// -----

// A residual add couples the channels of "a" and "b": they are pruned together.
// CHECK-LABEL: func.func @residual
// CHECK:         dag.conv2d "a"({{.*}} -> tensor<1x2x4x4xf32>
// CHECK:         dag.conv2d "b"({{.*}} -> tensor<1x2x4x4xf32>
// CHECK:         dag.add "sum"({{.*}}) : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
// CHECK:         dag.conv2d "head"({{.*}}) {{.*}} : (tensor<1x2x4x4xf32>, tensor<1x2x1x1xf32>) -> tensor<1x1x4x4xf32>
func.func @residual(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
  %wa = dag.constant "a.weight"() {value = dense<[[[[1.0]]], [[[2.0]]], [[[3.0]]], [[[4.0]]]]> : tensor<4x1x1x1xf32>} : () -> tensor<4x1x1x1xf32>
  %wb = dag.constant "b.weight"() {value = dense<[[[[4.0]]], [[[0.0]]], [[[0.0]]], [[[1.0]]]]> : tensor<4x1x1x1xf32>} : () -> tensor<4x1x1x1xf32>
  %a = dag.conv2d "a"(%x, %wa) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x4x4xf32>, tensor<4x1x1x1xf32>) -> tensor<1x4x4x4xf32>
  %b = dag.conv2d "b"(%x, %wb) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x4x4xf32>, tensor<4x1x1x1xf32>) -> tensor<1x4x4x4xf32>
  %s = dag.add "sum"(%a, %b) : (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %wh = dag.constant "head.weight"() {value = dense<1.0> : tensor<1x4x1x1xf32>} : () -> tensor<1x4x1x1xf32>
  %h = dag.conv2d "head"(%s, %wh) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x4x4x4xf32>, tensor<1x4x1x1xf32>) -> tensor<1x1x4x4xf32>
  func.return %h : tensor<1x1x4x4xf32>
}

// -----

// Concat offsets: "p" and "q" are separate groups, each halved; the consumer's
// input channels follow. The depthwise conv keeps groups == channels.
// CHECK-LABEL: func.func @concat_depthwise
// CHECK:         dag.concat "cat"({{.*}}) {dim = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x4x4x4xf32>
// CHECK:         dag.conv2d "dw"({{.*}}) {{.*}}groups = 4 : i64} : (tensor<1x4x4x4xf32>, tensor<4x1x3x3xf32>) -> tensor<1x4x4x4xf32>
// CHECK:         dag.conv2d "out"({{.*}}) {{.*}} : (tensor<1x4x4x4xf32>, tensor<1x4x1x1xf32>) -> tensor<1x1x4x4xf32>
func.func @concat_depthwise(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32> {
  %wp = dag.constant "p.weight"() {value = dense<[[[[1.0]]], [[[2.0]]], [[[3.0]]], [[[4.0]]]]> : tensor<4x1x1x1xf32>} : () -> tensor<4x1x1x1xf32>
  %wq = dag.constant "q.weight"() {value = dense<[[[[4.0]]], [[[3.0]]], [[[2.0]]], [[[1.0]]]]> : tensor<4x1x1x1xf32>} : () -> tensor<4x1x1x1xf32>
  %p = dag.conv2d "p"(%x, %wp) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x4x4xf32>, tensor<4x1x1x1xf32>) -> tensor<1x4x4x4xf32>
  %q = dag.conv2d "q"(%x, %wq) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x4x4xf32>, tensor<4x1x1x1xf32>) -> tensor<1x4x4x4xf32>
  %c = dag.concat "cat"(%p, %q) {dim = 1 : i64} : (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x8x4x4xf32>
  %wd = dag.constant "dw.weight"() {value = dense<1.0> : tensor<8x1x3x3xf32>} : () -> tensor<8x1x3x3xf32>
  %d = dag.conv2d "dw"(%c, %wd) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 8 : i64} : (tensor<1x8x4x4xf32>, tensor<8x1x3x3xf32>) -> tensor<1x8x4x4xf32>
  %wo = dag.constant "out.weight"() {value = dense<1.0> : tensor<1x8x1x1xf32>} : () -> tensor<1x8x1x1xf32>
  %o = dag.conv2d "out"(%d, %wo) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x8x4x4xf32>, tensor<1x8x1x1xf32>) -> tensor<1x1x4x4xf32>
  func.return %o : tensor<1x1x4x4xf32>
}

// -----

// flatten -> linear: each channel is a block of 4 input features of the linear.
// CHECK-LABEL: func.func @flatten_linear
// CHECK:         dag.reshape "flat"({{.*}}) : (tensor<1x2x2x2xf32>) -> tensor<1x8xf32>
// CHECK:         dag.linear "fc"({{.*}}) : (tensor<1x8xf32>, tensor<3x8xf32>) -> tensor<1x3xf32>
func.func @flatten_linear(%x: tensor<1x1x2x2xf32>) -> tensor<1x3xf32> {
  %w = dag.constant "conv.weight"() {value = dense<[[[[1.0]]], [[[2.0]]], [[[3.0]]], [[[4.0]]]]> : tensor<4x1x1x1xf32>} : () -> tensor<4x1x1x1xf32>
  %y = dag.conv2d "conv"(%x, %w) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x2x2xf32>, tensor<4x1x1x1xf32>) -> tensor<1x4x2x2xf32>
  %f = dag.reshape "flat"(%y) : (tensor<1x4x2x2xf32>) -> tensor<1x16xf32>
  %wl = dag.constant "fc.weight"() {value = dense<1.0> : tensor<3x16xf32>} : () -> tensor<3x16xf32>
  %o = dag.linear "fc"(%f, %wl) : (tensor<1x16xf32>, tensor<3x16xf32>) -> tensor<1x3xf32>
  func.return %o : tensor<1x3xf32>
}
