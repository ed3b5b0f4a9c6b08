// RUN: dag-opt %s --split-input-file -p dagc-bufferize | filecheck %s

// An op writes its result over its destination when nothing reads the old value
// afterwards. Here %b would overwrite %a, which %c still reads: %a is copied into
// a new buffer for %b. %c writes the out-parameter.

// CHECK-LABEL: func.func @conflict(
// CHECK:         %[[A:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
// CHECK-NEXT:    linalg.generic {{.*}} ins(%x : memref<4xf32>) outs(%[[A]] : memref<4xf32>)
// CHECK:         %[[B:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
// CHECK-NEXT:    "memref.copy"(%[[A]], %[[B]])
// CHECK-NEXT:    linalg.generic {{.*}} outs(%[[B]] : memref<4xf32>)
// CHECK:         linalg.generic {{.*}} ins(%[[A]], %[[B]] : memref<4xf32>, memref<4xf32>) outs(%out : memref<4xf32>)
// CHECK:         memref.dealloc %[[B]]
// CHECK-NEXT:    memref.dealloc %[[A]]
// CHECK-NEXT:    func.return
#id = affine_map<(i) -> (i)>
func.func @conflict(%x: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = math.exp %p : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %b = linalg.generic {indexing_maps = [#id], iterator_types = ["parallel"]} outs(%a : tensor<4xf32>) {
  ^bb0(%o: f32):
    %s = arith.addf %o, %o : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %e2 = tensor.empty() : tensor<4xf32>
  %c = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%a, %b : tensor<4xf32>, tensor<4xf32>) outs(%e2 : tensor<4xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.subf %q, %p : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %c : tensor<4xf32>
}

// -----

// Arguments are read-only: an op writing into one works on a copy, made in the
// out-parameter when the result is returned.

// CHECK-LABEL: func.func @into_argument(
// CHECK-SAME:      %x: memref<4xf32>, %y: memref<4xf32>, %out: memref<4xf32>) {
// CHECK-NEXT:    "memref.copy"(%x, %out)
// CHECK-NEXT:    linalg.generic {{.*}} ins(%y : memref<4xf32>) outs(%out : memref<4xf32>)
#id = affine_map<(i) -> (i)>
func.func @into_argument(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%y : tensor<4xf32>) outs(%x : tensor<4xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = arith.mulf %p, %o : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// A destination the op never reads (linalg.fill, a generic ignoring its out
// argument) is not copied when the op cannot write in place.

// CHECK-LABEL: func.func @unread_destination(
// CHECK-NEXT:    %one = arith.constant
// CHECK-NEXT:    linalg.fill ins(%one : f32) outs(%out : memref<4xf32>)
// CHECK-NEXT:    func.return
func.func @unread_destination(%x: tensor<4xf32>) -> tensor<4xf32> {
  %one = arith.constant 1.0 : f32
  %r = linalg.fill ins(%one : f32) outs(%x : tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// An elementwise op whose destination is a fresh tensor.empty writes over an input
// of the same type that nothing reads afterwards. %a is read by %c, so %b cannot
// reuse it; %c reuses %a's buffer (both inputs are dead after it). %d is returned
// and writes the out-parameter.

// CHECK-LABEL: func.func @reuse_dead_input(
// CHECK:         %[[A:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8xf32>
// CHECK-NEXT:    linalg.generic {{.*}} ins(%x : memref<8xf32>) outs(%[[A]] : memref<8xf32>)
// CHECK:         %[[B:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8xf32>
// CHECK-NEXT:    linalg.generic {{.*}} ins(%[[A]] : memref<8xf32>) outs(%[[B]] : memref<8xf32>)
// CHECK:         linalg.generic {{.*}} ins(%[[A]], %[[B]] : memref<8xf32>, memref<8xf32>) outs(%[[A]] : memref<8xf32>)
// CHECK:         memref.dealloc %[[B]]
// CHECK-NEXT:    linalg.generic {{.*}} ins(%[[A]] : memref<8xf32>) outs(%out : memref<8xf32>)
#id = affine_map<(i) -> (i)>
func.func @reuse_dead_input(%x: tensor<8xf32>) -> tensor<8xf32> {
  %e1 = tensor.empty() : tensor<8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<8xf32>) outs(%e1 : tensor<8xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = math.exp %p : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %e2 = tensor.empty() : tensor<8xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : tensor<8xf32>) outs(%e2 : tensor<8xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = arith.addf %p, %p : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %e3 = tensor.empty() : tensor<8xf32>
  %c = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%a, %b : tensor<8xf32>, tensor<8xf32>) outs(%e3 : tensor<8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.mulf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %e4 = tensor.empty() : tensor<8xf32>
  %d = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%c : tensor<8xf32>) outs(%e4 : tensor<8xf32>) {
  ^bb0(%p: f32, %o: f32):
    %s = arith.negf %p : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %d : tensor<8xf32>
}
