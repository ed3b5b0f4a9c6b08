// RUN: dag-opt %s -p dagc-linalg-to-loops --verify-diagnostics
// RUN: dag-opt %s -p 'dagc-linalg-to-loops{parallel=true}' --verify-diagnostics

func.func @tensors(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>, %c: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{dagc-linalg-to-loops: linalg.matmul has tensor semantics; run dagc-bufferize first}}
  %r = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>) outs(%c : tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %r : tensor<2x4xf32>
}
