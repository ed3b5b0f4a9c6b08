// RUN: dag-opt %s --split-input-file -p dagc-parallel-to-threads | filecheck %s
// RUN: dag-opt %s --split-input-file -p 'dagc-parallel-to-threads{threads=1}' | filecheck %s --check-prefix=SERIAL
// RUN: not dag-opt %s -p 'dagc-parallel-to-threads{min-work=-1}' 2>&1 | filecheck %s --check-prefix=OPTION

// An outermost scf.parallel with enough work (32768 iterations of 5 ops) is outlined:
// the unit dimension is dropped, the leading dimensions are linearized until they
// hold at least 64 iterations (32 x 32 = 1024) and split among threads as
// [%begin, %end); the innermost dimension stays a whole loop. The constant is
// cloned into the body; the memrefs and the scalar %alpha are arguments.

// CHECK-LABEL: func.func @scale(
// CHECK-SAME:      %[[X:.*]]: memref<1x32x32x32xf32>, %[[ALPHA:.*]]: f32, %[[Y:.*]]: memref<1x32x32x32xf32>)
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[BEGIN:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[END:.*]] = arith.constant 1024 : index
// CHECK-NEXT:    func.call @scale_par0(%[[BEGIN]], %[[END]], %[[X]], %[[ALPHA]], %[[Y]]) {dagc.parallel} : (index, index, memref<1x32x32x32xf32>, f32, memref<1x32x32x32xf32>) -> ()
// CHECK-NOT:     scf.parallel
// CHECK:         func.return

// CHECK-LABEL: func.func private @scale_par0(
// CHECK-SAME:      %[[B:.*]]: index, %[[E:.*]]: index, %[[X:.*]]: memref<1x32x32x32xf32>, %[[ALPHA:.*]]: f32, %[[Y:.*]]: memref<1x32x32x32xf32>) {
// CHECK-NEXT:    %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    %[[N:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:    scf.for %[[L:.*]] = %[[B]] to %[[E]] step %[[ONE]] {
// CHECK-NEXT:      %[[C32:.*]] = arith.constant 32 : index
// CHECK-NEXT:      %[[C:.*]] = arith.divui %[[L]], %[[C32]] : index
// CHECK-NEXT:      %[[C32B:.*]] = arith.constant 32 : index
// CHECK-NEXT:      %[[H:.*]] = arith.remui %[[L]], %[[C32B]] : index
// CHECK-NEXT:      %[[LO:.*]] = arith.constant 0 : index
// CHECK-NEXT:      %[[HI:.*]] = arith.constant 32 : index
// CHECK-NEXT:      scf.for %[[W:.*]] = %[[LO]] to %[[HI]] step %[[ONE]] {
// CHECK-NEXT:        %[[V:.*]] = memref.load %[[X]][%[[N]], %[[C]], %[[H]], %[[W]]] : memref<1x32x32x32xf32>
// CHECK-NEXT:        %[[S:.*]] = arith.mulf %[[V]], %[[ALPHA]] : f32
// CHECK-NEXT:        %[[R:.*]] = arith.maximumf %[[S]], %[[ZERO]] : f32
// CHECK-NEXT:        memref.store %[[R]], %[[Y]][%[[N]], %[[C]], %[[H]], %[[W]]] : memref<1x32x32x32xf32>
// CHECK-NEXT:      }
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return

// With threads=1 every scf.parallel becomes an scf.for nest, in place.
// SERIAL-LABEL: func.func @scale(
// SERIAL-NOT:     func.call
// SERIAL:         scf.for %[[N:.*]] = %{{.*}} to %{{.*}} step
// SERIAL-NEXT:      scf.for %[[C:.*]] = %{{.*}} to %{{.*}} step
// SERIAL-NEXT:        scf.for %[[H:.*]] = %{{.*}} to %{{.*}} step
// SERIAL-NEXT:          scf.for %[[W:.*]] = %{{.*}} to %{{.*}} step
// SERIAL-NEXT:            memref.load %{{.*}}[%[[N]], %[[C]], %[[H]], %[[W]]]
// SERIAL-NOT:   func.func private
func.func @scale(%x: memref<1x32x32x32xf32>, %alpha: f32, %y: memref<1x32x32x32xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %zero = arith.constant 0.0 : f32
  "scf.parallel"(%c0, %c0, %c0, %c0, %c1, %c32, %c32, %c32, %c1, %c1, %c1, %c1) <{operandSegmentSizes = array<i32: 4, 4, 4, 0>}> ({
  ^bb0(%n: index, %c: index, %h: index, %w: index):
    %v = memref.load %x[%n, %c, %h, %w] : memref<1x32x32x32xf32>
    %s = arith.mulf %v, %alpha : f32
    %r = arith.maximumf %s, %zero : f32
    memref.store %r, %y[%n, %c, %h, %w] : memref<1x32x32x32xf32>
    scf.reduce
  }) : (index, index, index, index, index, index, index, index, index, index, index, index) -> ()
  func.return
}

// -----

// Too little work to wake threads for (16 x 16 iterations): serial loops in place.

// CHECK-LABEL: func.func @small(
// CHECK-NOT:     func.call
// CHECK:         scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT:      scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT:        memref.store %{{.*}}, %{{.*}}[%[[I]], %[[J]]] : memref<16x16xf32>
// CHECK-NOT:   func.func private
func.func @small(%y: memref<16x16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %one = arith.constant 1.0 : f32
  "scf.parallel"(%c0, %c0, %c16, %c16, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
  ^bb0(%i: index, %j: index):
    memref.store %one, %y[%i, %j] : memref<16x16xf32>
    scf.reduce
  }) : (index, index, index, index, index, index) -> ()
  func.return
}

// -----

// Nested scf.parallel: the outer one (2048 iterations of a 64-iteration inner
// loop) is outlined with one dimension (2048 >= 64), the inner one becomes an
// scf.for in the outlined body. A lower bound and step other than 0 and 1 are
// applied to the range's index. The work estimate counts the inner loop's trips.

// CHECK-LABEL: func.func @nested(
// CHECK:         %[[E:.*]] = arith.constant 2048 : index
// CHECK-NEXT:    func.call @nested_par0(%{{.*}}, %[[E]], %{{.*}}) {dagc.parallel}
// CHECK-LABEL: func.func private @nested_par0(
// CHECK-SAME:      %[[BEGIN:.*]]: index, %[[END:.*]]: index, %[[Y:.*]]: memref<4096x64xf32>)
// CHECK:         scf.for %[[L:.*]] = %[[BEGIN]] to %[[END]] step
// CHECK-NEXT:      %[[TWO:.*]] = arith.constant 2 : index
// CHECK-NEXT:      %[[SCALED:.*]] = arith.muli %[[L]], %[[TWO]] : index
// CHECK-NEXT:      %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:      %[[I:.*]] = arith.addi %[[SCALED]], %[[ONE]] : index
// CHECK-NEXT:      scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:        memref.store %{{.*}}, %[[Y]][%[[I]], %[[J]]] : memref<4096x64xf32>
// CHECK-NEXT:      }
// CHECK-NOT:     scf.parallel
func.func @nested(%y: memref<4096x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c64 = arith.constant 64 : index
  %c4096 = arith.constant 4096 : index
  %one = arith.constant 1.0 : f32
  "scf.parallel"(%c1, %c4096, %c2) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
  ^bb0(%i: index):
    "scf.parallel"(%c0, %c64, %c1) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
    ^bb1(%j: index):
      memref.store %one, %y[%i, %j] : memref<4096x64xf32>
      scf.reduce
    }) : (index, index, index) -> ()
    scf.reduce
  }) : (index, index, index) -> ()
  func.return
}

// -----

// A parallel loop in a serial one (e.g. per image): the call stays in the loop and
// passes its induction variable.

// CHECK-LABEL: func.func @per_image(
// CHECK:         scf.for %[[IMAGE:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:           func.call @per_image_par0(%{{.*}}, %{{.*}}, %{{.*}}, %[[IMAGE]]) {dagc.parallel}
// CHECK-NEXT:    }
// CHECK-LABEL: func.func private @per_image_par0(
// CHECK-SAME:      %{{.*}}: index, %{{.*}}: index, %[[Y:.*]]: memref<4x512x512xf32>, %[[N:.*]]: index)
// CHECK:           memref.store %{{.*}}, %[[Y]][%[[N]], %{{.*}}, %{{.*}}]
func.func @per_image(%y: memref<4x512x512xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c512 = arith.constant 512 : index
  %one = arith.constant 1.0 : f32
  scf.for %n = %c0 to %c4 step %c1 {
    "scf.parallel"(%c0, %c0, %c512, %c512, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
    ^bb0(%i: index, %j: index):
      memref.store %one, %y[%n, %i, %j] : memref<4x512x512xf32>
      scf.reduce
    }) : (index, index, index, index, index, index) -> ()
  }
  func.return
}

// -----

// Reductions and dynamic bounds stay serial: the reduction is carried through an
// scf.for and combined by the scf.reduce region, in iteration order.

// CHECK-LABEL: func.func @sum(
// CHECK-SAME:      %[[X:.*]]: memref<?xf32>, %[[N:.*]]: index) -> f32
// CHECK-NOT:     func.call
// CHECK:         %[[S:.*]] = scf.for %[[I:.*]] = %{{.*}} to %[[N]] step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (f32) {
// CHECK-NEXT:      %[[V:.*]] = memref.load %[[X]][%[[I]]] : memref<?xf32>
// CHECK-NEXT:      %[[T:.*]] = arith.addf %[[ACC]], %[[V]] : f32
// CHECK-NEXT:      scf.yield %[[T]] : f32
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return %[[S]] : f32
func.func @sum(%x: memref<?xf32>, %n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %s = "scf.parallel"(%c0, %n, %c1, %zero) <{operandSegmentSizes = array<i32: 1, 1, 1, 1>}> ({
  ^bb0(%i: index):
    %v = memref.load %x[%i] : memref<?xf32>
    scf.reduce(%v : f32) {
    ^bb1(%a: f32, %b: f32):
      %t = arith.addf %a, %b : f32
      scf.reduce.return %t : f32
    }
  }) : (index, index, index, f32) -> f32
  func.return %s : f32
}

// OPTION: error: dagc-parallel-to-threads: threads and min-work must be >= 0, got threads=0 min-work=-1

// -----

// Captured memrefs whose bytes lie in an allocation of the parent that no other
// capture reaches are llvm.noalias arguments (LLVM then vectorizes without alias
// checks, as on the allocation itself): %pad (a view of %a) and %col; disjoint
// views of one arena (%lo, %hi) too. Arguments of the parent (%x) may alias each
// other, and overlapping views (%v1, %v2) alias each other: they get nothing.

// CHECK-LABEL: func.func private @copies_par0(
// CHECK-SAME:      %begin: index, %end: index, %x: memref<256x256xf32>, %pad: memref<256x256xf32, strided<[258, 1], offset: 259>> {llvm.noalias}, %col: memref<256x256xf32> {llvm.noalias})
// CHECK-LABEL: func.func private @copies_par1(
// CHECK-SAME:      %begin: index, %end: index, %lo: memref<256x256xf32> {llvm.noalias}, %hi: memref<256x256xf32> {llvm.noalias})
// CHECK-LABEL: func.func private @copies_par2(
// CHECK-SAME:      %begin: index, %end: index, %v1: memref<256x256xf32, strided<[258, 1]>>, %v2: memref<256x256xf32, strided<[258, 1], offset: 1>>)
func.func @copies(%x: memref<256x256xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %c262144 = arith.constant 262144 : index
  %a = memref.alloc() : memref<258x258xf32>
  %pad = memref.subview %a[1, 1] [256, 256] [1, 1] : memref<258x258xf32> to memref<256x256xf32, strided<[258, 1], offset: 259>>
  %col = memref.alloc() : memref<256x256xf32>
  "scf.parallel"(%c0, %c0, %c256, %c256, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
  ^bb0(%i: index, %j: index):
    %v = memref.load %x[%i, %j] : memref<256x256xf32>
    memref.store %v, %pad[%i, %j] : memref<256x256xf32, strided<[258, 1], offset: 259>>
    memref.store %v, %col[%j, %i] : memref<256x256xf32>
    scf.reduce
  }) : (index, index, index, index, index, index) -> ()
  %arena = memref.alloc() : memref<524288xi8>
  %lo = memref.view %arena[%c0][] : memref<524288xi8> to memref<256x256xf32>
  %hi = memref.view %arena[%c262144][] : memref<524288xi8> to memref<256x256xf32>
  "scf.parallel"(%c0, %c0, %c256, %c256, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
  ^bb0(%i: index, %j: index):
    %v = memref.load %lo[%i, %j] : memref<256x256xf32>
    memref.store %v, %hi[%i, %j] : memref<256x256xf32>
    scf.reduce
  }) : (index, index, index, index, index, index) -> ()
  %v1 = memref.subview %a[0, 0] [256, 256] [1, 1] : memref<258x258xf32> to memref<256x256xf32, strided<[258, 1]>>
  %v2 = memref.subview %a[0, 1] [256, 256] [1, 1] : memref<258x258xf32> to memref<256x256xf32, strided<[258, 1], offset: 1>>
  "scf.parallel"(%c0, %c0, %c256, %c256, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
  ^bb0(%i: index, %j: index):
    %v = memref.load %v1[%i, %j] : memref<256x256xf32, strided<[258, 1]>>
    memref.store %v, %v2[%i, %j] : memref<256x256xf32, strided<[258, 1], offset: 1>>
    scf.reduce
  }) : (index, index, index, index, index, index) -> ()
  func.return
}

// -----

// A llvm.noalias argument of the parent (a kernel's scratch, hoisted by
// dagc-hoist-kernel-scratch) is an allocation of its own: its captured views are
// noalias too, unlike the other arguments (%x).
// CHECK-LABEL: func.func private @scratch_par0(
// CHECK-SAME:      %begin: index, %end: index, %x: memref<256x256xf32>, %lo: memref<256x256xf32> {llvm.noalias})
func.func @scratch(%x: memref<256x256xf32>, %scratch: memref<65536xf32> {llvm.noalias}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %lo = memref.reinterpret_cast %scratch to offset: [0], sizes: [256, 256], strides: [256, 1] : memref<65536xf32> to memref<256x256xf32>
  "scf.parallel"(%c0, %c0, %c256, %c256, %c1, %c1) <{operandSegmentSizes = array<i32: 2, 2, 2, 0>}> ({
  ^bb0(%i: index, %j: index):
    %v = memref.load %x[%i, %j] : memref<256x256xf32>
    memref.store %v, %lo[%i, %j] : memref<256x256xf32>
    scf.reduce
  }) : (index, index, index, index, index, index) -> ()
  func.return
}
