// A model after dag-fuse, lowered: one kernel function per distinct fused region,
// one linalg.generic per elementwise chain, and no buffer for the values inside
// a region (the conv epilogue runs in place in the kernel's out-parameter).
// RUN: dag-opt %s -p dagc-outline-kernels,convert-dag-to-linalg,dagc-linalg-fuse-elementwise | filecheck %s --check-prefix=LINALG
// RUN: dag-opt %s -p dagc-outline-kernels,convert-dag-to-linalg,dagc-linalg-fuse-elementwise,dagc-bufferize | filecheck %s --check-prefix=BUF

// Two structurally equal regions (names aside) share one kernel.
// LINALG-LABEL: func.func @forward
// LINALG-NEXT:    %[[Y:.*]] = func.call @[[CONV:k_conv2d_add_relu_[0-9a-f]+]](%x, %w, %b, %r) {dagc.op = "c+add+relu"}
// LINALG-NEXT:    %[[Z:.*]] = func.call @[[CHAIN:k_sigmoid_mul_tanh_[0-9a-f]+]](%[[Y]], %s) {dagc.op = "sig+scale+tanh"}
// LINALG-NEXT:    func.call @[[CHAIN]](%[[Z]], %s) {dagc.op = "sig_1+scale_1+tanh_1"}
// LINALG-NEXT:    func.return

// The epilogue (add + relu) is one generic that writes over the conv result.
// LINALG:       func.func private @[[CONV]](
// LINALG:         %[[ACC:.*]] = linalg.generic {{.*}} ins(%a2 : tensor<3xf32>)
// LINALG-NEXT:    ^bb0
// LINALG-NEXT:      linalg.yield
// LINALG-NEXT:    } -> tensor<1x3x4x4xf32>
// LINALG-NEXT:    %[[C:.*]] = linalg.conv_2d_nchw_fchw {{.*}} outs(%[[ACC]] : tensor<1x3x4x4xf32>)
// LINALG-NEXT:    %[[U:.*]] = linalg.generic {{.*}} ins(%[[C]], %a3 : tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32>) outs(%[[C]] : tensor<1x3x4x4xf32>) {
// LINALG:           arith.addf
// LINALG:           arith.maximumf
// LINALG:         } -> tensor<1x3x4x4xf32>
// LINALG-NEXT:    func.return %[[U]]

// sigmoid, the per-channel scale and tanh: one generic.
// LINALG:       func.func private @[[CHAIN]](
// LINALG-NEXT:    %[[E:.*]] = tensor.empty()
// LINALG-NEXT:    %[[V:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], {{.*}} ins(%e, %f : tensor<1x3x4x4xf32>, tensor<3x1x1xf32>) outs(%[[E]] : tensor<1x3x4x4xf32>)
// LINALG:           math.exp
// LINALG:           arith.mulf
// LINALG:           math.tanh
// LINALG:         } -> tensor<1x3x4x4xf32>
// LINALG-NEXT:    func.return %[[V]]

// After bufferization the kernels allocate nothing: bias, conv and epilogue all
// write the out-parameter.
// BUF-LABEL:    func.func private @k_conv2d_add_relu_{{[0-9a-f]+}}(%a0: memref<1x2x4x4xf32>, %a1: memref<3x2x1x1xf32>, %a2: memref<3xf32>, %a3: memref<1x3x4x4xf32>, %out: memref<1x3x4x4xf32>) {
// BUF-NOT:        memref.alloc
// BUF:            linalg.generic {{.*}} ins(%a2 : memref<3xf32>) outs(%out : memref<1x3x4x4xf32>)
// BUF-NOT:        memref.alloc
// BUF:            linalg.conv_2d_nchw_fchw {{.*}} outs(%out : memref<1x3x4x4xf32>)
// BUF-NEXT:       linalg.generic {{.*}} ins(%out, %a3 : memref<1x3x4x4xf32>, memref<1x3x4x4xf32>) outs(%out : memref<1x3x4x4xf32>)
// BUF-NOT:        memref.alloc
// BUF:            func.return
// BUF-LABEL:    func.func private @k_sigmoid_mul_tanh_{{[0-9a-f]+}}(%e: memref<1x3x4x4xf32>, %f: memref<3x1x1xf32>, %out: memref<1x3x4x4xf32>) {
// BUF-NEXT:       linalg.generic {{.*}} ins(%e, %f : memref<1x3x4x4xf32>, memref<3x1x1xf32>) outs(%out : memref<1x3x4x4xf32>)
// BUF-NOT:        memref.alloc
// BUF:            func.return

func.func @forward(%x: tensor<1x2x4x4xf32>, %w: tensor<3x2x1x1xf32>, %b: tensor<3xf32>, %r: tensor<1x3x4x4xf32>, %s: tensor<3x1x1xf32>) -> tensor<1x3x4x4xf32> {
  %y = dag.fused "c+add+relu"(%a0 = %x, %a1 = %w, %a2 = %b, %a3 = %r) : (tensor<1x2x4x4xf32>, tensor<3x2x1x1xf32>, tensor<3xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32> {
    %c = dag.conv2d "c"(%a0, %a1, %a2) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<3x2x1x1xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
    %t = dag.add "add"(%c, %a3) : (tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    %u = dag.relu "relu"(%t) : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    dag.yield %u : tensor<1x3x4x4xf32>
  }
  %z = dag.fused "sig+scale+tanh"(%e = %y, %f = %s) : (tensor<1x3x4x4xf32>, tensor<3x1x1xf32>) -> tensor<1x3x4x4xf32> {
    %p = dag.sigmoid "sig"(%e) : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    %q = dag.mul "scale"(%p, %f) : (tensor<1x3x4x4xf32>, tensor<3x1x1xf32>) -> tensor<1x3x4x4xf32>
    %v = dag.tanh "tanh"(%q) : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    dag.yield %v : tensor<1x3x4x4xf32>
  }
  %z2 = dag.fused "sig_1+scale_1+tanh_1"(%e = %z, %f = %s) : (tensor<1x3x4x4xf32>, tensor<3x1x1xf32>) -> tensor<1x3x4x4xf32> {
    %p = dag.sigmoid "sig_1"(%e) : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    %q = dag.mul "scale_1"(%p, %f) : (tensor<1x3x4x4xf32>, tensor<3x1x1xf32>) -> tensor<1x3x4x4xf32>
    %v = dag.tanh "tanh_1"(%q) : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    dag.yield %v : tensor<1x3x4x4xf32>
  }
  func.return %z2 : tensor<1x3x4x4xf32>
}
