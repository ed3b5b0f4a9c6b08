// Verifier diagnostics of the device dialect.
// RUN: dag-opt %s --split-input-file --verify-diagnostics

func.func @unsupported_kind(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{subgraph 'sg0': device kind 'HEXAGON' in 'HEXAGON:0' is not supported by dagc; supported kinds: X86, X64, ARM, ARM64, NVIDIA, AMDGPU, INTELGPU, MALI, ADRENO, HOST}}
  %0 = device.subgraph "sg0" on "HEXAGON:0" (%a = %x : tensor<4xf32>) -> (tensor<4xf32>) {
    device.yield %a : tensor<4xf32>
  }
  func.return %0 : tensor<4xf32>
}

// -----

func.func @unknown_kind(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{device kind 'CUDA' in 'CUDA:0' is unknown; supported kinds: X86, X64}}
  %0 = device.subgraph "sg0" on "CUDA:0" (%a = %x : tensor<4xf32>) -> (tensor<4xf32>) {
    device.yield %a : tensor<4xf32>
  }
  func.return %0 : tensor<4xf32>
}

// -----

func.func @malformed(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{malformed device 'X64-0': expected KIND:index (e.g. 'X64:0')}}
  %0 = device.subgraph "sg0" on "X64-0" (%a = %x : tensor<4xf32>) -> (tensor<4xf32>) {
    device.yield %a : tensor<4xf32>
  }
  func.return %0 : tensor<4xf32>
}

// -----

func.func @missing_transfer(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = device.subgraph "sg0" on "X64:0" (%a = %x : tensor<4xf32>) -> (tensor<4xf32>) {
    device.yield %a : tensor<4xf32>
  }
  // expected-error @+1 {{operand #0 of subgraph 'sg1' on NVIDIA:0 comes from subgraph 'sg0' on X64:0 without a device.transfer}}
  %1 = device.subgraph "sg1" on "NVIDIA:0" (%b = %0 : tensor<4xf32>) -> (tensor<4xf32>) {
    device.yield %b : tensor<4xf32>
  }
  func.return %1 : tensor<4xf32>
}

// -----

func.func @transfer_elsewhere(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = device.subgraph "sg0" on "X64:0" (%a = %x : tensor<4xf32>) -> (tensor<4xf32>) {
    device.yield %a : tensor<4xf32>
  }
  %1 = device.transfer %0 from "X64:0" to "NVIDIA:1" : tensor<4xf32>
  // expected-error @+1 {{operand #0 of subgraph 'sg1' on NVIDIA:0 is transferred to NVIDIA:1}}
  %2 = device.subgraph "sg1" on "NVIDIA:0" (%b = %1 : tensor<4xf32>) -> (tensor<4xf32>) {
    device.yield %b : tensor<4xf32>
  }
  func.return %2 : tensor<4xf32>
}

// -----

func.func @transfer_wrong_source(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = device.subgraph "sg0" on "X64:0" (%a = %x : tensor<4xf32>) -> (tensor<4xf32>) {
    device.yield %a : tensor<4xf32>
  }
  // expected-error @+1 {{transfer from ARM64:0 of a value that lives on X64:0}}
  %1 = device.transfer %0 from "ARM64:0" to "NVIDIA:0" : tensor<4xf32>
  func.return %1 : tensor<4xf32>
}

// -----

func.func @transfer_to_itself(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{transfer from X64:0 to itself}}
  %0 = device.transfer %x from "X64:0" to "x64:0" : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @transfer_bad_device(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{transfer destination: device kind 'TPU' in 'TPU:0' is not supported by dagc}}
  %0 = device.transfer %x from "X64:0" to "TPU:0" : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @yield_types(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{subgraph 'sg0' yields (tensor<4xf32>) but has results (tensor<8xf32>)}}
  %0 = device.subgraph "sg0" on "X64:0" (%a = %x : tensor<4xf32>) -> (tensor<8xf32>) {
    device.yield %a : tensor<4xf32>
  }
  func.return %x : tensor<4xf32>
}

// -----

func.func @isolated(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{Operation using value defined out of its IsolatedFromAbove parent}}
  %0 = device.subgraph "sg0" on "X64:0" () -> (tensor<4xf32>) {
    %r = dag.relu "relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
    device.yield %r : tensor<4xf32>
  }
  func.return %0 : tensor<4xf32>
}

// -----

func.func @yield_outside(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'device.yield' expects parent op 'device.subgraph'}}
  device.yield %x : tensor<4xf32>
}
