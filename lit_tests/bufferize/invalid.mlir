// RUN: dag-opt %s --split-input-file -p dagc-bufferize --verify-diagnostics

// expected-error @+1 {{dagc-bufferize: dynamic shape in tensor<?xf32>}}
func.func @dynamic(%x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}

// -----

func.func @loop_carried(%x: tensor<4xf32>, %n: index) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{dagc-bufferize: tensors inside the region of scf.for are not supported}}
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%t = %x) -> (tensor<4xf32>) {
    scf.yield %t : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @index_dependent_pad(%x: tensor<2xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{dagc-bufferize: tensor.pad with a pad value computed in its region}}
  %p = tensor.pad %x low[1] high[1] {
  ^bb0(%i: index):
    %v = arith.index_cast %i : index to i32
    %f = arith.sitofp %v : i32 to f32
    tensor.yield %f : f32
  } : tensor<2xf32> to tensor<4xf32>
  return %p : tensor<4xf32>
}

// -----

func.func @unsupported(%a: f32, %b: f32) -> tensor<2xf32> {
  // expected-error @+1 {{dagc-bufferize: cannot bufferize tensor.from_elements}}
  %t = tensor.from_elements %a, %b : tensor<2xf32>
  return %t : tensor<2xf32>
}
