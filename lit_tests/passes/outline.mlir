// dag-outline wraps a subgraph into a private function; dag-inline undoes it.
// RUN: dag-opt %s -p 'dag-outline{from=a to=c func-name=block}' | filecheck %s
// RUN: dag-opt %s -p 'dag-outline{ops="b","c"}' | filecheck %s --check-prefix=OPS
// RUN: dag-opt %s -p 'dag-outline{from=a to=c func-name=block},dag-inline' | filecheck %s --check-prefix=BACK
// RUN: not dag-opt %s -p 'dag-outline{ops="a","d"}' 2>&1 | filecheck %s --check-prefix=CONVEX
// RUN: not dag-opt %s -p 'dag-outline{ops="nope"}' 2>&1 | filecheck %s --check-prefix=UNKNOWN

// The constant used only inside moves with the ops; %x is an argument, and both
// values used outside (%b by "d", %c by the return) are results.
// CHECK-LABEL: func.func @forward
// CHECK-NEXT:    %[[B:.*]], %[[C:.*]] = func.call @block(%x) : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT:    %[[D:.*]] = dag.neg "d"(%[[B]])
// CHECK-NEXT:    %[[E:.*]] = dag.add "e"(%[[D]], %[[C]])
// CHECK-NEXT:    func.return %[[E]]
// CHECK:       func.func private @block(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
// CHECK-NEXT:    %two = dag.constant "two"
// CHECK-NEXT:    %a = dag.mul "a"(%x, %two)
// CHECK-NEXT:    %b = dag.relu "b"(%a)
// CHECK-NEXT:    %c = dag.sigmoid "c"(%b)
// CHECK-NEXT:    func.return %b, %c

// OPS-LABEL: func.func @forward
// OPS:         %a = dag.mul "a"
// OPS-NEXT:    %b, %c = func.call @outlined(%a)
// OPS:       func.func private @outlined(%a: tensor<4xf32>)
// OPS-NEXT:    dag.relu "b"
// OPS-NEXT:    dag.sigmoid "c"

// BACK-LABEL: func.func @forward
// BACK-NEXT:    %two = dag.constant "two"
// BACK-NEXT:    %a = dag.mul "a"(%x, %two)
// BACK-NEXT:    %b = dag.relu "b"(%a)
// BACK-NEXT:    %c = dag.sigmoid "c"(%b)
// BACK-NEXT:    %d = dag.neg "d"(%b)
// BACK-NEXT:    %e = dag.add "e"(%d, %c)
// BACK-NEXT:    func.return %e
// BACK-NOT:   func.func private

// CONVEX: error: the subgraph is not convex: b depend(s) on it and feed(s) it
// UNKNOWN: error: no op named 'nope'
func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
  %two = dag.constant "two"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
  %a = dag.mul "a"(%x, %two) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %b = dag.relu "b"(%a) : (tensor<4xf32>) -> tensor<4xf32>
  %c = dag.sigmoid "c"(%b) : (tensor<4xf32>) -> tensor<4xf32>
  %d = dag.neg "d"(%b) : (tensor<4xf32>) -> tensor<4xf32>
  %e = dag.add "e"(%d, %c) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %e : tensor<4xf32>
}
