// RUN: dag-opt %s -p convert-memref-to-llvm --verify-diagnostics --split-input-file

func.func @dynamic(%m: memref<?xf32>, %i: index) -> f32 {
  // expected-error @+1 {{only static shapes lower to llvm}}
  %v = memref.load %m[%i] : memref<?xf32>
  func.return %v : f32
}
