// RUN: dag-opt %s --split-input-file -p 'dagc-linalg-to-loops{parallel=true fold-views=true}' | filecheck %s

// With fold-views, loads and stores through a subview index its source: offset
// plus index times stride, and the view goes away (GPU kernels take buffers with
// identity layouts).

// CHECK-LABEL: func.func @subview
// CHECK-NOT:     memref.subview
// CHECK:         ^bb0(%[[I:.*]]: index, %[[J:.*]]: index):
// CHECK-NEXT:      %[[V:.*]] = memref.load %x[%[[I]], %[[J]]] : memref<2x4xf32>
// CHECK-NEXT:      %[[TWO:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[I2:.*]] = arith.muli %[[I]], %[[TWO]] : index
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[R:.*]] = arith.addi %[[I2]], %[[ONE]] : index
// CHECK-NEXT:      memref.store %[[V]], %y[%[[R]], %[[J]]] : memref<4x4xf32>
func.func @subview(%x: memref<2x4xf32>, %y: memref<4x4xf32>) {
  %rows = memref.subview %y[1, 0] [2, 4] [2, 1] : memref<4x4xf32> to memref<2x4xf32, strided<[8, 1], offset: 4>>
  "memref.copy"(%x, %rows) : (memref<2x4xf32>, memref<2x4xf32, strided<[8, 1], offset: 4>>) -> ()
  func.return
}

// -----

// A collapsed view is read by delinearizing the index; an expanded one is written
// by linearizing the group.

// CHECK-LABEL: func.func @reshapes
// CHECK-NOT:     memref.collapse_shape
// CHECK-NOT:     memref.expand_shape
// CHECK:         ^bb0(%[[K:.*]]: index):
// CHECK-NEXT:      %[[FOUR:.*]] = arith.constant 4 : index
// CHECK-NEXT:      %[[COL:.*]] = arith.remui %[[K]], %[[FOUR]] : index
// CHECK-NEXT:      %[[ROW:.*]] = arith.divui %[[K]], %[[FOUR]] : index
// CHECK-NEXT:      %[[V:.*]] = memref.load %x[%[[ROW]], %[[COL]]] : memref<2x4xf32>
// CHECK:           memref.store %[[V]], %y[{{.*}}] : memref<8xf32>
func.func @reshapes(%x: memref<2x4xf32>, %y: memref<8xf32>) {
  %flat = memref.collapse_shape %x [[0, 1]] : memref<2x4xf32> into memref<8xf32>
  %grid = memref.expand_shape %y [[0, 1]] output_shape [4, 2] : memref<8xf32> into memref<4x2xf32>
  %grid_flat = memref.collapse_shape %grid [[0, 1]] : memref<4x2xf32> into memref<8xf32>
  "memref.copy"(%flat, %grid_flat) : (memref<8xf32>, memref<8xf32>) -> ()
  func.return
}
