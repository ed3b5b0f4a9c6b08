// A large GEMM is split into chunks (row blocks x column ranges), the iterations
// of an outermost scf.parallel with constant bounds; each chunk computes its
// pointers and its balanced range of tiles and panels, and the last row block
// also does the rows past the whole tiles. Small GEMMs, and every GEMM with
// parallel=false, stay serial.
// RUN: dag-opt %s --split-input-file -p dagc-linalg-to-microkernels | filecheck %s
// RUN: dag-opt %s --split-input-file -p 'dagc-linalg-to-microkernels{parallel=false}' | filecheck %s --check-prefix=SERIAL

// 256 x 256 x 256: 2 row blocks of 21 tiles (126 rows) x 8 ranges of 1 of the 8
// panels; both row blocks read every panel of B, so the 8 panels (256 x 32 each)
// are packed once, before the chunks (an scf.parallel over the panels); 256 = 42
// x 6 + 4 rows: the last block's 4 tail rows are under scf.if.
// CHECK-LABEL: func.func @large
// CHECK:         %[[PANELS:.*]] = memref.alloc() {alignment = 64 : i64} : memref<65536xf32>
// CHECK:         "scf.parallel"
// CHECK:           scf.for
// CHECK:             llvm.load {{.*}} -> vector<16xf32>
// CHECK:             llvm.store {{.*}} : vector<16xf32>, !llvm.ptr
// CHECK:           scf.reduce
// CHECK:         %[[ZERO:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[ROWS:.*]] = arith.constant 2 : index
// CHECK-NEXT:    %[[COLS:.*]] = arith.constant 8 : index
// CHECK-NEXT:    "scf.parallel"(%[[ZERO]], %[[ZERO]], %[[ROWS]], %[[COLS]], %[[ONE]], %[[ONE]])
// CHECK-NEXT:    ^bb0(%{{.*}}: index, %{{.*}}: index):
// CHECK-NEXT:      "memref.extract_aligned_pointer_as_index"(%a)
// CHECK:           arith.divui
// CHECK:           "memref.extract_aligned_pointer_as_index"(%[[PANELS]])
// CHECK:           llvm.intr.fma
// CHECK:           scf.if
// CHECK:           llvm.intr.fma
// CHECK:           scf.reduce
// SERIAL-LABEL: func.func @large
// SERIAL-NOT:     scf.parallel
// SERIAL:         func.return
func.func @large(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>) {
  linalg.matmul ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  func.return
}

// -----

// 16 x 64 x 64: 131 kflop, below PARALLEL_MIN_FLOPS.
// CHECK-LABEL: func.func @small
// CHECK-NOT:     scf.parallel
// CHECK:         func.return
func.func @small(%a: memref<16x64xf32>, %b: memref<64x64xf32>, %c: memref<16x64xf32>) {
  linalg.matmul ins(%a, %b : memref<16x64xf32>, memref<64x64xf32>) outs(%c : memref<16x64xf32>)
  func.return
}

// -----

// A convolution with a large im2col copy: one scf.parallel over the input
// channels and window rows (each writing the rows of the column buffer of the 3
// window columns by vectors), then the GEMM's.
// CHECK-LABEL: func.func @conv
// CHECK:         memref.alloc() {alignment = 64 : i64} : memref<144x1024xf32>
// CHECK:         %[[C:.*]] = arith.constant 16 : index
// CHECK-NEXT:    %[[KH:.*]] = arith.constant 3 : index
// CHECK-NEXT:    "scf.parallel"(%{{.*}}, %{{.*}}, %[[C]], %[[KH]], %{{.*}}, %{{.*}})
// CHECK:           llvm.load {{.*}} -> vector<16xf32>
// CHECK:           llvm.store {{.*}} : vector<16xf32>, !llvm.ptr
// CHECK:           scf.reduce
// CHECK:         "scf.parallel"
// CHECK:           llvm.intr.fma
// SERIAL-LABEL: func.func @conv
// SERIAL-NOT:     scf.parallel
// SERIAL:         func.return
func.func @conv(%x: memref<1x16x34x34xf32>, %w: memref<32x16x3x3xf32>, %y: memref<1x32x32x32xf32>) {
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x16x34x34xf32>, memref<32x16x3x3xf32>) outs(%y : memref<1x32x32x32xf32>)
  func.return
}
