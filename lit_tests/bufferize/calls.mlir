// RUN: dag-opt %s -p dagc-bufferize | filecheck %s

// Calls follow the callee's new signature: the caller allocates the callee's
// out-parameters (or passes its own, when the call's result is returned), and
// passes a strided view as an identity-layout copy.

// CHECK-LABEL: func.func @neg(
// CHECK-SAME:      %x: memref<2xf32>, %out: memref<2xf32>) {
// CHECK-LABEL: func.func @main(
// CHECK-SAME:      %x: memref<4xf32>, %out: memref<2xf32>) {
// CHECK-NEXT:    %[[S:.*]] = memref.subview %x[1] [2] [2] : memref<4xf32> to memref<2xf32, strided<[2], offset: 1>>
// CHECK-NEXT:    %[[C:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2xf32>
// CHECK-NEXT:    "memref.copy"(%[[S]], %[[C]])
// CHECK-NEXT:    %[[A:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2xf32>
// CHECK-NEXT:    func.call @neg(%[[C]], %[[A]]) : (memref<2xf32>, memref<2xf32>) -> ()
// CHECK-NEXT:    memref.dealloc %[[C]]
// CHECK-NEXT:    func.call @neg(%[[A]], %out) : (memref<2xf32>, memref<2xf32>) -> ()
// CHECK-NEXT:    memref.dealloc %[[A]]
// CHECK-NEXT:    func.return
func.func @neg(%x: tensor<2xf32>) -> tensor<2xf32> {
  %e = tensor.empty() : tensor<2xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%x : tensor<2xf32>) outs(%e : tensor<2xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = arith.negf %p : f32
    linalg.yield %s : f32
  } -> tensor<2xf32>
  return %r : tensor<2xf32>
}
func.func @main(%x: tensor<4xf32>) -> tensor<2xf32> {
  %s = tensor.extract_slice %x[1] [2] [2] : tensor<4xf32> to tensor<2xf32>
  %a = func.call @neg(%s) : (tensor<2xf32>) -> tensor<2xf32>
  %b = func.call @neg(%a) : (tensor<2xf32>) -> tensor<2xf32>
  return %b : tensor<2xf32>
}
