// Upstream MLIR 22 accepts dagc's output at every standard level of the CPU pipeline:
// bufferized linalg on memrefs, scf loops, the llvm dialect (mlir-opt-22), and the
// llvm dialect's translation to LLVM IR (mlir-translate-22).
// REQUIRES: mlir-opt-22, mlir-translate-22
// RUN: dag-opt %s -p dagc-hoist-weights,dagc-outline-kernels,convert-dag-to-linalg,dagc-bufferize | mlir-opt-22 | filecheck %s --check-prefix=BUF
// RUN: dag-opt %s -p dagc-hoist-weights,dagc-outline-kernels,convert-dag-to-linalg,dagc-bufferize,dagc-plan-memory | mlir-opt-22 | filecheck %s --check-prefix=PLAN
// RUN: dag-opt %s -p dagc-hoist-weights,dagc-outline-kernels,convert-dag-to-linalg,dagc-bufferize,dagc-linalg-generalize,dagc-linalg-to-loops | mlir-opt-22 | filecheck %s --check-prefix=LOOPS
// RUN: dag-opt %s -p dag-to-llvm | mlir-opt-22 | filecheck %s --check-prefix=LLVM
// RUN: dag-opt %s -p dag-to-llvm | mlir-translate-22 --mlir-to-llvmir | filecheck %s --check-prefix=IR

// BUF-LABEL: func.func @forward
// BUF-SAME:    memref<1x4xf32>
// BUF:         call @k_conv2d
// BUF:         memref.dealloc
// The entry's three intermediates in one arena: the softmax reuses the conv's bytes.
// PLAN-LABEL: func.func @forward
// PLAN-SAME:    dagc.arena_bytes = 512 : i64, dagc.unplanned_bytes = 768 : i64
// PLAN:         %[[ARENA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<512xi8>
// PLAN-NEXT:    arith.constant 0 : index
// PLAN-NEXT:    memref.view %[[ARENA]][%{{.*}}][] : memref<512xi8> to memref<1x4x4x4xf32>
// PLAN-NEXT:    call @k_conv2d
// PLAN-NEXT:    arith.constant 256 : index
// PLAN:         call @k_relu
// PLAN-NEXT:    arith.constant 0 : index
// PLAN:         call @k_softmax
// PLAN:         memref.dealloc %[[ARENA]] : memref<512xi8>
// LOOPS:       scf.for
// LOOPS:       memref.load
// LLVM:        llvm.func @forward
// The conv runs as a packed GEMM: vector FMAs on <16 x float>.
// LLVM:        llvm.intr.fma
// IR:          define void @forward(ptr
// IR:          call void @k_conv2d

func.func @forward(%x: tensor<1x3x8x8xf32>) -> tensor<1x4xf32> {
  %w = dag.constant "conv.weight"() {value = dense_resource<conv_weight> : tensor<4x3x3x3xf32>} : () -> tensor<4x3x3x3xf32>
  %c = dag.conv2d "conv"(%x, %w) {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x4x4xf32>
  %r = dag.relu "relu"(%c) : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %s = dag.softmax "softmax"(%r) {dim = 1 : i64} : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %m = dag.mean "gap"(%s) {dims = array<i64: 2, 3>} : (tensor<1x4x4x4xf32>) -> tensor<1x4xf32>
  func.return %m : tensor<1x4xf32>
}

{-#
  dialect_resources: {
    builtin: {
      conv_weight: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F"
    }
  }
#-}
