// The device dialect's custom syntax prints what it parses, also through the
// generic form.
// RUN: dag-opt %s | filecheck %s
// RUN: dag-opt %s --mlir-print-op-generic | dag-opt | filecheck %s
// RUN: dag-opt %s --mlir-print-op-generic | filecheck %s --check-prefix=GENERIC

// CHECK-LABEL: func.func @two_devices
// CHECK-NEXT:    %0 = device.subgraph "sg0" on "X64:0" (%a = %x : tensor<1x8xf32>) -> (tensor<1x8xf32>) {
// CHECK-NEXT:      %r = dag.relu "relu"(%a) : (tensor<1x8xf32>) -> tensor<1x8xf32>
// CHECK-NEXT:      device.yield %r : tensor<1x8xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %1 = device.transfer %0 from "X64:0" to "NVIDIA:0" : tensor<1x8xf32>
// CHECK-NEXT:    %2, %3 = device.subgraph "sg1" on "NVIDIA:0" (%b = %1 : tensor<1x8xf32>, %c = %x : tensor<1x8xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>) attributes {note = "gpu"} {
// CHECK-NEXT:      %s = dag.add "add"(%b, %c) : (tensor<1x8xf32>, tensor<1x8xf32>) -> tensor<1x8xf32>
// CHECK-NEXT:      device.yield %s, %b : tensor<1x8xf32>, tensor<1x8xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    device.subgraph "empty" on "HOST:0" () -> () {
// CHECK-NEXT:      device.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %2 : tensor<1x8xf32>

// GENERIC:      "device.subgraph"(%x) <{name = "sg0", target = "X64:0"}> ({
// GENERIC-NEXT: ^bb0(%a: tensor<1x8xf32>):
// GENERIC:      "device.yield"(%r) : (tensor<1x8xf32>) -> ()
// GENERIC:      "device.transfer"(%0) <{from = "X64:0", to = "NVIDIA:0"}> : (tensor<1x8xf32>) -> tensor<1x8xf32>
func.func @two_devices(%x: tensor<1x8xf32>) -> tensor<1x8xf32> {
  %0 = device.subgraph "sg0" on "X64:0" (%a = %x : tensor<1x8xf32>) -> (tensor<1x8xf32>) {
    %r = dag.relu "relu"(%a) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    device.yield %r : tensor<1x8xf32>
  }
  %1 = device.transfer %0 from "X64:0" to "NVIDIA:0" : tensor<1x8xf32>
  %2:2 = device.subgraph "sg1" on "NVIDIA:0" (%b = %1 : tensor<1x8xf32>, %c = %x : tensor<1x8xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>) attributes {note = "gpu"} {
    %s = dag.add "add"(%b, %c) : (tensor<1x8xf32>, tensor<1x8xf32>) -> tensor<1x8xf32>
    device.yield %s, %b : tensor<1x8xf32>, tensor<1x8xf32>
  }
  device.subgraph "empty" on "HOST:0" () -> () {
    device.yield
  }
  func.return %2#0 : tensor<1x8xf32>
}

// A single result type may be written without parentheses; kinds are
// case-insensitive in the parser, printed as written.
// CHECK-LABEL: func.func @single
// CHECK:         device.subgraph "sg0" on "arm64:1" (%a = %x : tensor<4xf32>) -> (tensor<4xf32>) {
func.func @single(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = device.subgraph "sg0" on "arm64:1" (%a = %x : tensor<4xf32>) -> tensor<4xf32> {
    device.yield %a : tensor<4xf32>
  }
  func.return %0 : tensor<4xf32>
}
