// dag-fuse: producer-consumer chains -> dag.fused regions (one kernel each).
// RUN: dag-opt %s --split-input-file -p dag-fuse | filecheck %s
// RUN: dag-opt %s --split-input-file -p 'dag-fuse{max-ops=2}' | filecheck %s --check-prefix=MAX2
// RUN: dag-opt %s --split-input-file -p 'dag-fuse{elementwise-only=true}' | filecheck %s --check-prefix=ELT

// A conv with a bias and a relu: one region reading the input and the weights,
// which stay constants outside it; the ops keep their names inside.
// CHECK-LABEL: func.func @conv_bias_relu
// CHECK:         %[[W:.*]] = dag.constant "c.weight"
// CHECK-NEXT:    %[[B:.*]] = dag.constant "c.bias"
// CHECK-NEXT:    %[[Y:.*]] = dag.fused "c+relu"(%[[X:.*]] = %x, %[[W1:.*]] = %[[W]], %[[B1:.*]] = %[[B]]) : (tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32> {
// CHECK-NEXT:      %[[C:.*]] = dag.conv2d "c"(%[[X]], %[[W1]], %[[B1]])
// CHECK-NEXT:      %[[R:.*]] = dag.relu "relu"(%[[C]])
// CHECK-NEXT:      dag.yield %[[R]] : tensor<1x3x4x4xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[Y]]
// ELT-LABEL:   func.func @conv_bias_relu
// ELT:           dag.conv2d "c"
// ELT-NEXT:      dag.relu "relu"
// ELT-NEXT:      func.return
func.func @conv_bias_relu(%x: tensor<1x2x4x4xf32>) -> tensor<1x3x4x4xf32> {
  %w = dag.constant "c.weight"() {value = dense<0.5> : tensor<3x2x3x3xf32>} : () -> tensor<3x2x3x3xf32>
  %b = dag.constant "c.bias"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %y = dag.conv2d "c"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
  %r = dag.relu "relu"(%y) : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  func.return %r : tensor<1x3x4x4xf32>
}

// -----

// A residual block's tail: conv1 + add + relu. The residual (the downsample conv)
// is computed after conv1, so the region goes where the relu was, after it; the
// downsample conv's only user is taken, so it stays alone.
// CHECK-LABEL: func.func @conv_residual_relu
// CHECK:         %[[D:.*]] = dag.conv2d "down"(%x, %wd)
// CHECK-NEXT:    %[[Y:.*]] = dag.fused "conv1+add+relu"(%{{.*}} = %x, %{{.*}} = %w1, %[[RES:.*]] = %[[D]]) : {{.*}} {
// CHECK-NEXT:      %[[C:.*]] = dag.conv2d "conv1"
// CHECK-NEXT:      %[[A:.*]] = dag.add "add"(%[[C]], %[[RES]])
// CHECK-NEXT:      %[[R:.*]] = dag.relu "relu"(%[[A]])
// CHECK-NEXT:      dag.yield %[[R]]
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[Y]]
// MAX2-LABEL:  func.func @conv_residual_relu
// MAX2:          dag.fused "conv1+add"
// MAX2-NOT:      dag.fused
// MAX2:          dag.relu "relu"
func.func @conv_residual_relu(%x: tensor<1x2x4x4xf32>, %w1: tensor<2x2x3x3xf32>, %wd: tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32> {
  %c = dag.conv2d "conv1"(%x, %w1) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<2x2x3x3xf32>) -> tensor<1x2x4x4xf32>
  %d = dag.conv2d "down"(%x, %wd) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32>
  %a = dag.add "add"(%c, %d) : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %r = dag.relu "relu"(%a) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  func.return %r : tensor<1x2x4x4xf32>
}

// -----

// linear + gelu, and a batched matmul scaled by a scalar.
// CHECK-LABEL: func.func @linear_gelu
// CHECK:         dag.fused "fc1+act"(%{{.*}} = %x, %{{.*}} = %w, %{{.*}} = %b) : (tensor<2x8x4xf32>, tensor<16x4xf32>, tensor<16xf32>) -> tensor<2x8x16xf32> {
// CHECK-NEXT:      dag.linear "fc1"
// CHECK-NEXT:      dag.gelu "act"
// CHECK:         dag.fused "matmul+mul"(%{{.*}} = %q, %{{.*}} = %k, %[[S:.*]] = %s) : (tensor<2x8x4xf32>, tensor<2x4x8xf32>, tensor<f32>) -> tensor<2x8x8xf32> {
// CHECK-NEXT:      %[[M:.*]] = dag.matmul "matmul"
// CHECK-NEXT:      dag.mul "mul"(%[[M]], %[[S]])
func.func @linear_gelu(%x: tensor<2x8x4xf32>, %w: tensor<16x4xf32>, %b: tensor<16xf32>, %q: tensor<2x8x4xf32>, %k: tensor<2x4x8xf32>, %s: tensor<f32>) -> (tensor<2x8x16xf32>, tensor<2x8x8xf32>) {
  %y = dag.linear "fc1"(%x, %w, %b) : (tensor<2x8x4xf32>, tensor<16x4xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  %g = dag.gelu "act"(%y) {approximate = "tanh"} : (tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %m = dag.matmul "matmul"(%q, %k) : (tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<2x8x8xf32>
  %z = dag.mul "mul"(%m, %s) : (tensor<2x8x8xf32>, tensor<f32>) -> tensor<2x8x8xf32>
  func.return %g, %z : tensor<2x8x16xf32>, tensor<2x8x8xf32>
}

// -----

// An elementwise chain with no anchor: a per-channel scale between two
// activations; an unfolded batch norm joins a conv's chain through its input.
// CHECK-LABEL: func.func @elementwise_chain
// CHECK:         %[[Y:.*]] = dag.fused "sig+scale+tanh"(%[[X:.*]] = %x, %[[S:.*]] = %s) : (tensor<1x3x2x2xf32>, tensor<3x1x1xf32>) -> tensor<1x3x2x2xf32> {
// CHECK-NEXT:      %[[A:.*]] = dag.sigmoid "sig"(%[[X]])
// CHECK-NEXT:      %[[B:.*]] = dag.mul "scale"(%[[A]], %[[S]])
// CHECK-NEXT:      %[[C:.*]] = dag.tanh "tanh"(%[[B]])
// CHECK-NEXT:      dag.yield %[[C]]
// CHECK:         dag.fused "conv+bn+relu6"(%{{.*}} = %[[Y]], %{{.*}} = %w, %{{.*}} = %m, %{{.*}} = %v, %{{.*}} = %g, %{{.*}} = %b)
// MAX2-LABEL:  func.func @elementwise_chain
// MAX2:          dag.fused "sig+scale"
// MAX2:          dag.tanh "tanh"
// MAX2:          dag.fused "conv+bn"
// MAX2:          dag.relu6 "relu6"
// ELT-LABEL:   func.func @elementwise_chain
// ELT:           dag.fused "sig+scale+tanh"
// ELT:           dag.conv2d "conv"
// ELT:           dag.fused "bn+relu6"
func.func @elementwise_chain(%x: tensor<1x3x2x2xf32>, %s: tensor<3x1x1xf32>, %w: tensor<3x3x1x1xf32>, %m: tensor<3xf32>, %v: tensor<3xf32>, %g: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<1x3x2x2xf32> {
  %a = dag.sigmoid "sig"(%x) : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
  %c = dag.mul "scale"(%a, %s) : (tensor<1x3x2x2xf32>, tensor<3x1x1xf32>) -> tensor<1x3x2x2xf32>
  %t = dag.tanh "tanh"(%c) : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
  %y = dag.conv2d "conv"(%t, %w) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x2x2xf32>, tensor<3x3x1x1xf32>) -> tensor<1x3x2x2xf32>
  %n = dag.batch_norm "bn"(%y, %m, %v, %g, %b) {eps = 1.0e-05 : f64} : (tensor<1x3x2x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x2x2xf32>
  %r = dag.relu6 "relu6"(%n) : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32>
  func.return %r : tensor<1x3x2x2xf32>
}

// -----

// Not fusable: the conv result has two users (the relu and the add), so it stays
// a value of its own; the relu and the add still form a chain, which reads the
// conv result once. An op broadcasting the chain to a larger shape ends it, and
// a model output with another user ends it too.
// CHECK-LABEL: func.func @multi_use
// CHECK:         %[[C:.*]] = dag.conv2d "c"
// CHECK-NEXT:    %[[F:.*]] = dag.fused "relu+add"(%[[A:.*]] = %[[C]]) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
// CHECK-NEXT:      %[[R:.*]] = dag.relu "relu"(%[[A]])
// CHECK-NEXT:      dag.add "add"(%[[A]], %[[R]])
// CHECK:         %[[N:.*]] = dag.neg "neg"(%y)
// CHECK-NEXT:    dag.add "wide"(%[[N]], %z) : (tensor<4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
// CHECK-NEXT:    %[[E:.*]] = dag.exp "exp"(%y)
// CHECK-NEXT:    dag.sqrt "sqrt"(%[[E]])
// CHECK-NEXT:    func.return %[[F]], %{{.*}}, %{{.*}}, %[[E]]
func.func @multi_use(%x: tensor<1x2x4x4xf32>, %w: tensor<2x2x1x1xf32>, %y: tensor<4xf32>, %z: tensor<3x4xf32>) -> (tensor<1x2x4x4xf32>, tensor<3x4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %c = dag.conv2d "c"(%x, %w) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32>
  %r = dag.relu "relu"(%c) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %a = dag.add "add"(%c, %r) : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %n = dag.neg "neg"(%y) : (tensor<4xf32>) -> tensor<4xf32>
  %b = dag.add "wide"(%n, %z) : (tensor<4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %e = dag.exp "exp"(%y) : (tensor<4xf32>) -> tensor<4xf32>
  %q = dag.sqrt "sqrt"(%e) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %a, %b, %q, %e : tensor<1x2x4x4xf32>, tensor<3x4xf32>, tensor<4xf32>, tensor<4xf32>
}
