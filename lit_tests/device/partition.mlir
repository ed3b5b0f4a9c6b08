// partition-devices: ops grouped into device.subgraph regions by the allocation,
// constants copied to their consumers, transfers where values cross devices.
// RUN: dag-opt %s -p 'partition-devices{allocation="%S/Inputs/mlp.json"}' | filecheck %s
// RUN: dag-opt %s -p 'partition-devices{allocation="%S/Inputs/mlp.json" default="ARM64:0"}' | filecheck %s --check-prefix=ARM
// RUN: dag-opt %s -p 'partition-devices{allocation="%S/Inputs/mlp.json" merge=false}' | filecheck %s --check-prefix=NOMERGE
// RUN: dag-opt %s -p partition-devices | filecheck %s --check-prefix=DEFAULT
// RUN: dag-opt %s -p 'partition-devices{allocation="%S/Inputs/mlp.json" report=true}' 2>&1 >/dev/null | filecheck %s --check-prefix=REPORT
// RUN: not dag-opt %s -p 'partition-devices{allocation="%S/Inputs/bad-names.json"}' 2>&1 | filecheck %s --check-prefix=NAMES
// RUN: not dag-opt %s -p 'partition-devices{allocation="%S/Inputs/bad-device.json"}' 2>&1 | filecheck %s --check-prefix=DEVICE
// RUN: not dag-opt %s -p 'partition-devices{allocation="%S/Inputs/missing.json"}' 2>&1 | filecheck %s --check-prefix=MISSING
// RUN: dag-opt %s -p 'partition-devices{allocation="%S/Inputs/mlp.json"}' | not dag-opt -p partition-devices 2>&1 | filecheck %s --check-prefix=TWICE

// "skip" (X64, the default) reads "act" (NVIDIA) and "fc1" (X64); "side" (X64)
// only needs "fc1", so it joins the first X64 subgraph.
// CHECK-LABEL: func.func @forward
// CHECK-NEXT:    %0, %1 = device.subgraph "sg0" on "X64:0" (%x_1 = %x : tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
// CHECK-NEXT:      %w1 = dag.constant "fc1.weight"()
// CHECK-NEXT:      %2 = dag.linear "fc1"(%x_1, %w1)
// CHECK-NEXT:      %3 = dag.neg "side"(%2)
// CHECK-NEXT:      device.yield %2, %3 : tensor<2x8xf32>, tensor<2x8xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %2 = device.transfer %0 from "X64:0" to "NVIDIA:0" : tensor<2x8xf32>
// CHECK-NEXT:    %3 = device.subgraph "sg1" on "NVIDIA:0" (%4 = %2 : tensor<2x8xf32>) -> (tensor<2x8xf32>) {
// CHECK-NEXT:      %5 = dag.gelu "act"(%4)
// CHECK-NEXT:      device.yield %5 : tensor<2x8xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %4 = device.transfer %3 from "NVIDIA:0" to "X64:0" : tensor<2x8xf32>
// CHECK-NEXT:    %5 = device.subgraph "sg2" on "X64:0" (%6 = %4 : tensor<2x8xf32>, %7 = %0 : tensor<2x8xf32>, %8 = %1 : tensor<2x8xf32>) -> (tensor<2x8xf32>) {
// CHECK-NEXT:      %9 = dag.add "skip"(%6, %7)
// CHECK-NEXT:      %10 = dag.add "skip2"(%9, %8)
// CHECK-NEXT:      device.yield %10 : tensor<2x8xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %6 = device.transfer %5 from "X64:0" to "NVIDIA:0" : tensor<2x8xf32>
// CHECK-NEXT:    %7 = device.subgraph "sg3" on "NVIDIA:0" (%8 = %6 : tensor<2x8xf32>) -> (tensor<2x4xf32>) {
// CHECK-NEXT:      %w2 = dag.constant "fc2.weight"()
// CHECK-NEXT:      %9 = dag.linear "fc2"(%8, %w2)
// CHECK-NEXT:      device.yield %9 : tensor<2x4xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %7 : tensor<2x4xf32>

// One transfer per (value, device): "fc1" goes to ARM64 once, for "side" and "skip".
// ARM:           %0 = device.subgraph "sg0" on "X64:0"
// ARM:           %2 = device.subgraph "sg1" on "NVIDIA:0"
// ARM:           %3 = device.transfer %0 from "X64:0" to "ARM64:0"
// ARM-NEXT:      %4 = device.transfer %2 from "NVIDIA:0" to "ARM64:0"
// ARM-NEXT:      %5 = device.subgraph "sg2" on "ARM64:0" (%6 = %3 : tensor<2x8xf32>, %7 = %4 : tensor<2x8xf32>)
// ARM-NEXT:        dag.neg "side"(%6)
// ARM-NEXT:        dag.add "skip"(%7, %6)
// ARM-NOT:       device.transfer %0

// Without merging, "side" opens a subgraph of its own.
// NOMERGE:       device.subgraph "sg0" on "X64:0"
// NOMERGE-NEXT:    dag.constant "fc1.weight"
// NOMERGE-NEXT:    dag.linear "fc1"
// NOMERGE-NEXT:    device.yield
// NOMERGE:       device.subgraph "sg1" on "NVIDIA:0"
// NOMERGE:       device.subgraph "sg2" on "X64:0"
// NOMERGE-NEXT:    dag.neg "side"
// NOMERGE-NEXT:    dag.add "skip"

// With no allocation everything lands in one subgraph on the default device.
// DEFAULT:       %0 = device.subgraph "sg0" on "X64:0" (%x_1 = %x : tensor<2x8xf32>) -> (tensor<2x4xf32>) {
// DEFAULT-NOT:   device.transfer
// DEFAULT-NOT:   device.subgraph

// REPORT:        partition-devices: subgraphs
// REPORT:        sg0 {{.*}} X64:0 {{.*}} 2 {{.*}} fc1 .. side {{.*}} 1 {{.*}} 2
// REPORT:        sg1 {{.*}} NVIDIA:0 {{.*}} 1 {{.*}} act
// REPORT:        partition-devices: transfers
// REPORT:        fc1 {{.*}} X64:0 {{.*}} NVIDIA:0 {{.*}} tensor<2x8xf32> {{.*}} 64
// REPORT:        4 subgraphs on 2 devices, 3 transfers, 192 bytes moved

// NAMES: error: allocation names 1 op(s) that do not exist in @forward: 'fc3' (did you mean 'fc2'?); allocation names constants, which follow their consumers: 'fc1.weight'
// DEVICE: error: allocation has unsupported devices: 'fc1': device kind 'HEXAGON' in 'HEXAGON:0' is not supported by dagc (supported kinds: X86, X64, ARM, ARM64, NVIDIA, AMDGPU, INTELGPU, MALI, ADRENO, HOST)
// MISSING: error: cannot read allocation '{{.*}}missing.json': No such file or directory
// TWICE: error: @forward is already partitioned
func.func @forward(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %w1 = dag.constant "fc1.weight"() {value = dense<1.0> : tensor<8x8xf32>} : () -> tensor<8x8xf32>
  %0 = dag.linear "fc1"(%x, %w1) : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
  %1 = dag.gelu "act"(%0) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %2 = dag.neg "side"(%0) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %3 = dag.add "skip"(%1, %0) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %4 = dag.add "skip2"(%3, %2) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %w2 = dag.constant "fc2.weight"() {value = dense<0.5> : tensor<4x8xf32>} : () -> tensor<4x8xf32>
  %5 = dag.linear "fc2"(%4, %w2) : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  func.return %5 : tensor<2x4xf32>
}
