// RUN: dag-opt %s -p convert-memref-to-llvm --verify-diagnostics --split-input-file

func.func @dynamic(%m: memref<?xf32>, %i: index) -> f32 {
  // expected-error @+1 {{only static shapes lower to llvm}}
  %v = memref.load %m[%i] : memref<?xf32>
  func.return %v : f32
}

// -----

func.func @dynamic_view(%arena: memref<256xi8>, %n: index) -> memref<?xf32> {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{memref.view with dynamic sizes is not supported}}
  %v = memref.view %arena[%c0][%n] : memref<256xi8> to memref<?xf32>
  func.return %v : memref<?xf32>
}
