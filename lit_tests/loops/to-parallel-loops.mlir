// RUN: dag-opt %s --split-input-file -p 'dagc-linalg-to-loops{parallel=true}' | filecheck %s

// Parallel dimensions become one scf.parallel, reductions an scf.for nest inside
// it: the form the GPU lowering maps onto workgroups.

// CHECK-LABEL: func.func @matmul
// CHECK:         "scf.parallel"(%[[Z:.*]], %[[Z]], %{{.*}}, %{{.*}}, %[[O:.*]], %[[O]]) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
// CHECK-NEXT:    ^bb0(%[[I:.*]]: index, %[[J:.*]]: index):
// CHECK-NEXT:      scf.for %[[K:.*]] = %[[Z]] to %{{.*}} step %[[O]] {
// CHECK-NEXT:        %[[A:.*]] = memref.load %a[%[[I]], %[[K]]] : memref<2x3xf32>
// CHECK-NEXT:        %[[B:.*]] = memref.load %b[%[[K]], %[[J]]] : memref<3x4xf32>
// CHECK-NEXT:        %[[C:.*]] = memref.load %c[%[[I]], %[[J]]] : memref<2x4xf32>
// CHECK-NEXT:        %[[M:.*]] = arith.mulf %[[A]], %[[B]] : f32
// CHECK-NEXT:        %[[S:.*]] = arith.addf %[[M]], %[[C]] : f32
// CHECK-NEXT:        memref.store %[[S]], %c[%[[I]], %[[J]]] : memref<2x4xf32>
// CHECK-NEXT:      }
// CHECK-NEXT:      scf.reduce
// CHECK-NEXT:    })
func.func @matmul(%a: memref<2x3xf32>, %b: memref<3x4xf32>, %c: memref<2x4xf32>) {
  linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x4xf32>) outs(%c : memref<2x4xf32>)
  func.return
}

// -----

// A reduction over the outer dimension: the parallel loop is moved outside it.

// CHECK-LABEL: func.func @column_sums
// CHECK:         "scf.parallel"(%[[Z:.*]], %{{.*}}, %[[O:.*]]) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
// CHECK-NEXT:    ^bb0(%[[J:.*]]: index):
// CHECK-NEXT:      scf.for %[[I:.*]] = %[[Z]] to %{{.*}} step %[[O]] {
// CHECK-NEXT:        %[[X:.*]] = memref.load %x[%[[I]], %[[J]]] : memref<5x3xf32>
// CHECK-NEXT:        %[[Y:.*]] = memref.load %y[%[[J]]] : memref<3xf32>
// CHECK-NEXT:        %[[S:.*]] = arith.addf %[[Y]], %[[X]] : f32
// CHECK-NEXT:        memref.store %[[S]], %y[%[[J]]] : memref<3xf32>
func.func @column_sums(%x: memref<5x3xf32>, %y: memref<3xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>], iterator_types = ["reduction", "parallel"]} ins(%x : memref<5x3xf32>) outs(%y : memref<3xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  }
  func.return
}
