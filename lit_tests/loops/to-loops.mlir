// RUN: dag-opt %s --split-input-file -p dagc-linalg-to-loops | filecheck %s

// A strided convolution: a perfect scf.for nest in the op's loop order, the input
// indices computed with arith (affine.apply lowered), the output read and
// written back in the innermost loop.

// CHECK-LABEL: func.func @conv
// CHECK:         scf.for %[[N:.*]] = %[[ZERO:.*]] to %{{.*}} step %[[ONE:.*]] {
// CHECK-NEXT:      scf.for %[[F:.*]] = %[[ZERO]] to %{{.*}} step %[[ONE]] {
// CHECK-NEXT:        scf.for %[[OH:.*]] = %[[ZERO]] to %{{.*}} step %[[ONE]] {
// CHECK-NEXT:          scf.for %[[OW:.*]] = %[[ZERO]] to %{{.*}} step %[[ONE]] {
// CHECK-NEXT:            scf.for %[[C:.*]] = %[[ZERO]] to %{{.*}} step %[[ONE]] {
// CHECK-NEXT:              scf.for %[[KH:.*]] = %[[ZERO]] to %{{.*}} step %[[ONE]] {
// CHECK-NEXT:                scf.for %[[KW:.*]] = %[[ZERO]] to %{{.*}} step %[[ONE]] {
// CHECK-NEXT:                  %[[TWO:.*]] = arith.constant 2 : index
// CHECK-NEXT:                  %[[H0:.*]] = arith.muli %[[OH]], %[[TWO]] : index
// CHECK-NEXT:                  %[[H:.*]] = arith.addi %[[H0]], %[[KH]] : index
// CHECK:                       %[[W:.*]] = arith.addi %{{.*}}, %[[KW]] : index
// CHECK-NEXT:                  %[[XV:.*]] = memref.load %x[%[[N]], %[[C]], %[[H]], %[[W]]] : memref<1x2x7x7xf32>
// CHECK-NEXT:                  %[[WV:.*]] = memref.load %w[%[[F]], %[[C]], %[[KH]], %[[KW]]] : memref<3x2x3x3xf32>
// CHECK-NEXT:                  %[[YV:.*]] = memref.load %y[%[[N]], %[[F]], %[[OH]], %[[OW]]] : memref<1x3x3x3xf32>
// CHECK-NEXT:                  %[[P:.*]] = arith.mulf %[[XV]], %[[WV]] : f32
// CHECK-NEXT:                  %[[S:.*]] = arith.addf %[[P]], %[[YV]] : f32
// CHECK-NEXT:                  memref.store %[[S]], %y[%[[N]], %[[F]], %[[OH]], %[[OW]]] : memref<1x3x3x3xf32>
func.func @conv(%x: memref<1x2x7x7xf32>, %w: memref<3x2x3x3xf32>, %y: memref<1x3x3x3xf32>) {
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%x, %w : memref<1x2x7x7xf32>, memref<3x2x3x3xf32>) outs(%y : memref<1x3x3x3xf32>)
  func.return
}

// -----

// memref.copy becomes a loop nest too (here between strided views).

// CHECK-LABEL: func.func @copy
// CHECK:         scf.for %[[I:.*]] = {{.*}} {
// CHECK-NEXT:      scf.for %[[J:.*]] = {{.*}} {
// CHECK-NEXT:        %[[V:.*]] = memref.load %src[%[[I]], %[[J]]] : memref<2x3xf32, strided<[6, 2], offset: 1>>
// CHECK-NEXT:        memref.store %[[V]], %dst[%[[I]], %[[J]]] : memref<2x3xf32>
// CHECK-NOT:     memref.copy
func.func @copy(%src: memref<2x3xf32, strided<[6, 2], offset: 1>>, %dst: memref<2x3xf32>) {
  "memref.copy"(%src, %dst) : (memref<2x3xf32, strided<[6, 2], offset: 1>>, memref<2x3xf32>) -> ()
  func.return
}

// -----

// A gather in a linalg body (tensor.extract, bufferized to memref.load) and
// linalg.index: the index becomes the loop variable.

// CHECK-LABEL: func.func @gather
// CHECK:         scf.for %[[I:.*]] = {{.*}} {
// CHECK-NEXT:      %[[R:.*]] = arith.subi %{{.*}}, %[[I]] : index
// CHECK-NEXT:      %[[V:.*]] = memref.load %x[%[[R]]] : memref<4xf32>
// CHECK-NEXT:      memref.store %[[V]], %y[%[[I]]] : memref<4xf32>
func.func @gather(%x: memref<4xf32>, %y: memref<4xf32>) {
  %three = arith.constant 3 : index
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>], iterator_types = ["parallel"]} outs(%y : memref<4xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 0 : index
    %r = arith.subi %three, %i : index
    %v = memref.load %x[%r] : memref<4xf32>
    linalg.yield %v : f32
  }
  func.return
}
