// Verifier and parser diagnostics of dag.fused and dag.yield.
// RUN: dag-opt %s --split-input-file --verify-diagnostics

func.func @yield_types(%x: tensor<2xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{body of 'f' yields (tensor<2xf32>) but the op has results (tensor<3xf32>)}}
  %0 = dag.fused "f"(%a = %x) : (tensor<2xf32>) -> tensor<3xf32> {
    %1 = dag.relu "r"(%a) : (tensor<2xf32>) -> tensor<2xf32>
    dag.yield %1 : tensor<2xf32>
  }
  func.return %0 : tensor<3xf32>
}

// -----

func.func @constant_inside(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{body of 'f' may hold only dag compute ops, found 'dag.constant' (weights come in as operands)}}
  %0 = dag.fused "f"(%a = %x) : (tensor<2xf32>) -> tensor<2xf32> {
    %c = dag.constant "c"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
    %1 = dag.add "a"(%a, %c) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    dag.yield %1 : tensor<2xf32>
  }
  func.return %0 : tensor<2xf32>
}

// -----

func.func @nested(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{body of 'outer' may hold only dag compute ops, found 'dag.fused'}}
  %0 = dag.fused "outer"(%a = %x) : (tensor<2xf32>) -> tensor<2xf32> {
    %1 = dag.fused "inner"(%b = %a) : (tensor<2xf32>) -> tensor<2xf32> {
      %2 = dag.relu "r"(%b) : (tensor<2xf32>) -> tensor<2xf32>
      dag.yield %2 : tensor<2xf32>
    }
    dag.yield %1 : tensor<2xf32>
  }
  func.return %0 : tensor<2xf32>
}

// -----

func.func @other_dialect(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{body of 'f' may hold only dag compute ops, found 'arith.addf'}}
  %0 = dag.fused "f"(%a = %x) : (tensor<2xf32>) -> tensor<2xf32> {
    %1 = arith.addf %a, %a : tensor<2xf32>
    dag.yield %1 : tensor<2xf32>
  }
  func.return %0 : tensor<2xf32>
}

// -----

func.func @value_from_above(%x: tensor<2xf32>, %y: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{Operation using value defined out of its IsolatedFromAbove parent}}
  %0 = dag.fused "f"(%a = %x) : (tensor<2xf32>) -> tensor<2xf32> {
    %1 = dag.add "a"(%a, %y) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    dag.yield %1 : tensor<2xf32>
  }
  func.return %0 : tensor<2xf32>
}

// -----

func.func @argument_types(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{body argument #0 has type tensor<3xf32>, operand #0 has tensor<2xf32>}}
  %0 = "dag.fused"(%x) <{name = "f"}> ({
  ^bb0(%a: tensor<3xf32>):
    %1 = dag.relu "r"(%a) : (tensor<3xf32>) -> tensor<3xf32>
    dag.yield %1 : tensor<3xf32>
  }) : (tensor<2xf32>) -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}

// -----

func.func @argument_count(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{'f' has 1 operands but its body has 2 arguments}}
  %0 = "dag.fused"(%x) <{name = "f"}> ({
  ^bb0(%a: tensor<2xf32>, %b: tensor<2xf32>):
    dag.yield %a : tensor<2xf32>
  }) : (tensor<2xf32>) -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}

// -----

func.func @yield_outside(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{'dag.yield' expects parent op 'dag.fused'}}
  dag.yield %x : tensor<2xf32>
}

// -----

func.func @operand_types(%x: tensor<2xf32>, %y: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{expected 2 operand types, got 1}}
  %0 = dag.fused "f"(%a = %x, %b = %y) : (tensor<2xf32>) -> tensor<2xf32> {
    dag.yield %a : tensor<2xf32>
  }
  func.return %0 : tensor<2xf32>
}
