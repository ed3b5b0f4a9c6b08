// dag.fused round-trips through its custom form and through the generic form.
// RUN: dag-opt %s | filecheck %s
// RUN: dag-opt %s | dag-opt | filecheck %s
// RUN: dag-opt %s --mlir-print-op-generic | dag-opt | filecheck %s
// RUN: dag-opt %s --mlir-print-op-generic | filecheck %s --check-prefix=GENERIC

// CHECK-LABEL: func.func @forward
// CHECK:         %[[Y:.*]] = dag.fused "c+add+relu"(%[[A:.*]] = %x, %[[B:.*]] = %w, %[[C:.*]] = %b, %[[D:.*]] = %r) : (tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32> {
// CHECK-NEXT:      %[[CONV:.*]] = dag.conv2d "c"(%[[A]], %[[B]], %[[C]])
// CHECK-NEXT:      %[[ADD:.*]] = dag.add "add"(%[[CONV]], %[[D]])
// CHECK-NEXT:      %[[RELU:.*]] = dag.relu "relu"(%[[ADD]])
// CHECK-NEXT:      dag.yield %[[RELU]] : tensor<1x3x4x4xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[Z:.*]] = dag.fused "sig+mul"(%[[E:.*]] = %[[Y]]) {tag = 1 : i64} : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32> {
// CHECK-NEXT:      %[[S:.*]] = dag.sigmoid "sig"(%[[E]])
// CHECK-NEXT:      %{{.*}} = dag.mul "mul"(%[[S]], %[[S]])
// CHECK:         func.return %[[Z]]

// GENERIC:      "dag.fused"(%x, %w, %b, %r) <{name = "c+add+relu"}> ({
// GENERIC-NEXT: ^bb0(%{{.*}}: tensor<1x2x4x4xf32>, %{{.*}}: tensor<3x2x3x3xf32>, %{{.*}}: tensor<3xf32>, %{{.*}}: tensor<1x3x4x4xf32>):
// GENERIC:        "dag.yield"(%{{.*}}) : (tensor<1x3x4x4xf32>) -> ()
// GENERIC-NEXT: }) : (tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
// GENERIC:      "dag.fused"(%{{.*}}) <{name = "sig+mul"}> ({
// GENERIC:      }) {tag = 1 : i64} : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>

func.func @forward(%x: tensor<1x2x4x4xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>, %r: tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32> {
  %y = dag.fused "c+add+relu"(%a0 = %x, %a1 = %w, %a2 = %b, %a3 = %r) : (tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32> {
    %c = dag.conv2d "c"(%a0, %a1, %a2) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
    %s = dag.add "add"(%c, %a3) : (tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    %t = dag.relu "relu"(%s) : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    dag.yield %t : tensor<1x3x4x4xf32>
  }
  %z = dag.fused "sig+mul"(%e = %y) {tag = 1 : i64} : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32> {
    %s = dag.sigmoid "sig"(%e) : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    %m = dag.mul "mul"(%s, %s) : (tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    dag.yield %m : tensor<1x3x4x4xf32>
  }
  func.return %z : tensor<1x3x4x4xf32>
}
