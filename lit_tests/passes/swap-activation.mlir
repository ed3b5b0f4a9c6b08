// dag-swap-activation: one activation replaced by another, keeping names.
// RUN: dag-opt %s -p 'dag-swap-activation{from=gelu to=relu}' | filecheck %s
// RUN: dag-opt %s -p 'dag-swap-activation{from=gelu to=leaky_relu negative-slope=0.25}' | filecheck %s --check-prefix=LEAKY
// RUN: dag-opt %s -p 'dag-swap-activation{from=gelu to=clamp min=0 max=6.0}' | filecheck %s --check-prefix=CLAMP
// RUN: dag-opt %s -p 'dag-swap-activation{from=gelu to=silu ops="mlp.act"}' | filecheck %s --check-prefix=ONE
// RUN: not dag-opt %s -p 'dag-swap-activation{from=gelu to=softmax}' 2>&1 | filecheck %s --check-prefix=BAD

// CHECK-LABEL: func.func @mlp
// CHECK-NEXT:    %0 = dag.relu "mlp.act"(%x) : (tensor<2x8xf32>) -> tensor<2x8xf32>
// CHECK-NEXT:    %1 = dag.relu "head.act"(%0) : (tensor<2x8xf32>) -> tensor<2x8xf32>
// CHECK-NEXT:    %2 = dag.sigmoid "gate"(%1)

// LEAKY:         dag.leaky_relu "mlp.act"(%x) {negative_slope = 2.500000e-01 : f64}
// LEAKY:         dag.leaky_relu "head.act"

// CLAMP:         dag.clamp "mlp.act"(%x) {min = 0.000000e+00 : f64, max = 6.000000e+00 : f64}

// ONE:           dag.silu "mlp.act"(%x)
// ONE-NEXT:      dag.gelu "head.act"

// BAD: error: {{.*}}to='softmax' is not an activation
func.func @mlp(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = dag.gelu "mlp.act"(%x) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %1 = dag.gelu "head.act"(%0) {approximate = "tanh"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %2 = dag.sigmoid "gate"(%1) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  func.return %2 : tensor<2x8xf32>
}
