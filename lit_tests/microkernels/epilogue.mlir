// The elementwise ops after a GEMM or a convolution are absorbed into the
// micro-kernel: applied on its vector accumulators before the final store, in
// the last k block only; ops that do not qualify stay linalg.generic. The op
// that initializes C before it (a fill, a bias broadcast) becomes the
// accumulators' initial value.
// RUN: dag-opt %s --split-input-file -p dagc-linalg-to-microkernels | filecheck %s

// In place into the convolution's output: a per-channel scale (one value per
// GEMM row: a scalar load and a broadcast), a residual (a vector load), relu.
// CHECK-LABEL: func.func @conv_scale_residual_relu
// CHECK-NOT:     linalg.
// CHECK:         scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:           llvm.intr.fma
// CHECK:           scf.yield
// CHECK-NEXT:    }
// CHECK:         llvm.load {{.*}} -> f32
// CHECK:         %[[SV:.*]] = llvm.shufflevector %{{.*}} [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] : vector<16xf32>
// CHECK:         %[[M:.*]] = arith.mulf %{{.*}}, %[[SV]] : vector<16xf32>
// CHECK:         %[[R:.*]] = llvm.load {{.*}} -> vector<16xf32>
// CHECK:         %[[A:.*]] = arith.addf %[[M]], %[[R]] : vector<16xf32>
// CHECK:         %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<16xf32>
// CHECK:         %[[Y:.*]] = arith.maximumf %[[A]], %[[ZERO]] : vector<16xf32>
// CHECK:         llvm.store %[[Y]], {{.*}} : vector<16xf32>, !llvm.ptr
// CHECK-NOT:     linalg.
// CHECK:         func.return
func.func @conv_scale_residual_relu(%x: memref<1x4x2x8xf32>, %w: memref<6x4x1x1xf32>, %scale: memref<6xf32>, %r: memref<1x6x2x8xf32>, %out: memref<1x6x2x8xf32>) {
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x4x2x8xf32>, memref<6x4x1x1xf32>) outs(%out : memref<1x6x2x8xf32>)
  linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, c, h, w)>, affine_map<(n, c, h, w) -> (c)>, affine_map<(n, c, h, w) -> (n, c, h, w)>, affine_map<(n, c, h, w) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out, %scale, %r : memref<1x6x2x8xf32>, memref<6xf32>, memref<1x6x2x8xf32>) outs(%out : memref<1x6x2x8xf32>) {
  ^bb0(%y: f32, %s: f32, %q: f32, %o: f32):
    %m = arith.mulf %y, %s : f32
    %a = arith.addf %m, %q : f32
    %zero = arith.constant 0.0 : f32
    %z = arith.maximumf %a, %zero : f32
    linalg.yield %z : f32
  }
  func.return
}

// -----

// Out of place: the GEMM accumulates in %c, which is dead after the generic.
// Two k blocks (300 = 256 + 44): the last stores the scaled result into %out,
// the first plain partial sums into %c.
// CHECK-LABEL: func.func @matmul_scale
// CHECK:         %[[C:.*]] = "memref.extract_aligned_pointer_as_index"(%c)
// CHECK:         %[[CP:.*]] = llvm.inttoptr %{{.*}} : i64 to !llvm.ptr
// CHECK:         %[[OUT:.*]] = "memref.extract_aligned_pointer_as_index"(%out)
// CHECK:         %[[OP:.*]] = llvm.inttoptr %{{.*}} : i64 to !llvm.ptr
// CHECK:         scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step
// CHECK:           arith.minsi
// CHECK:           %[[LASTK:.*]] = arith.constant 256 : index
// CHECK-NEXT:      %[[LAST:.*]] = arith.cmpi eq, %[[K]], %[[LASTK]] : index
// CHECK:           scf.for
// CHECK:             llvm.intr.fma
// CHECK:           scf.if %[[LAST]] {
// CHECK:             %[[Y:.*]] = arith.mulf %{{.*}}, %{{.*}} : vector<16xf32>
// CHECK:             llvm.store %[[Y]], %[[OP]] {alignment = 4 : i64} : vector<16xf32>, !llvm.ptr
// CHECK:           } else {
// CHECK-NOT:         arith.mulf
// CHECK:             llvm.store %{{.*}}, %[[CP]] {alignment = 4 : i64} : vector<16xf32>, !llvm.ptr
// CHECK-NOT:     linalg.generic
func.func @matmul_scale(%a: memref<6x300xf32>, %b: memref<300x16xf32>, %out: memref<6x16xf32>) {
  %c = memref.alloc() {alignment = 64 : i64} : memref<6x16xf32>
  linalg.matmul ins(%a, %b : memref<6x300xf32>, memref<300x16xf32>) outs(%c : memref<6x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%c : memref<6x16xf32>) outs(%out : memref<6x16xf32>) {
  ^bb0(%x: f32, %o: f32):
    %h = arith.constant 0.5 : f32
    %y = arith.mulf %x, %h : f32
    linalg.yield %y : f32
  }
  memref.dealloc %c : memref<6x16xf32>
  func.return
}

// -----

// Two generics in a row, past a dealloc: a residual add in place, then relu into
// %out through a view of %c (collapse_shape). Masked edge (10 columns): masked
// loads of the residual and masked stores.
// CHECK-LABEL: func.func @chain
// CHECK-NOT:     linalg.generic
// CHECK:         llvm.intr.fma
// CHECK:         llvm.intr.masked.load {{.*}} -> vector<16xf32>
// CHECK:         arith.addf {{.*}} : vector<16xf32>
// CHECK:         arith.maximumf {{.*}} : vector<16xf32>
// CHECK:         llvm.intr.masked.store
// CHECK-NOT:     linalg.generic
func.func @chain(%a: memref<4x8xf32>, %b: memref<8x10xf32>, %r: memref<4x10xf32>, %t: memref<2x3xf32>, %out: memref<2x2x10xf32>) {
  %c = memref.alloc() {alignment = 64 : i64} : memref<4x10xf32>
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x10xf32>) outs(%c : memref<4x10xf32>)
  memref.dealloc %t : memref<2x3xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%c, %r : memref<4x10xf32>, memref<4x10xf32>) outs(%c : memref<4x10xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  }
  %v = memref.expand_shape %c [[0, 1], [2]] output_shape [2, 2, 10] : memref<4x10xf32> into memref<2x2x10xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j, k) -> (i, j, k)>, affine_map<(i, j, k) -> (i, j, k)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%v : memref<2x2x10xf32>) outs(%out : memref<2x2x10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %zero = arith.constant 0.0 : f32
    %z = arith.maximumf %x, %zero : f32
    linalg.yield %z : f32
  }
  memref.dealloc %c : memref<4x10xf32>
  func.return
}

// -----

// GELU: math.erf is expanded into vector arith (dagc-math-approximation's
// rational polynomial), not a vector libm call.
// CHECK-LABEL: func.func @gelu
// CHECK-NOT:     math.erf
// CHECK:         llvm.intr.fma
// CHECK:         arith.minimumf {{.*}} : vector<16xf32>
// CHECK:         arith.divf {{.*}} : vector<16xf32>
// CHECK:         llvm.store
// CHECK-NOT:     linalg.generic
func.func @gelu(%a: memref<6x8xf32>, %b: memref<8x16xf32>, %c: memref<6x16xf32>) {
  linalg.matmul ins(%a, %b : memref<6x8xf32>, memref<8x16xf32>) outs(%c : memref<6x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} outs(%c : memref<6x16xf32>) {
  ^bb0(%x: f32):
    %half = arith.constant 0.5 : f32
    %one = arith.constant 1.0 : f32
    %s = arith.constant 0.707106769 : f32
    %xs = arith.mulf %x, %s : f32
    %e = math.erf %xs : f32
    %xh = arith.mulf %x, %half : f32
    %t = arith.addf %one, %e : f32
    %y = arith.mulf %xh, %t : f32
    linalg.yield %y : f32
  }
  func.return
}

// -----

// Left alone: %c is read again after the out-of-place generic (the kernel would
// leave partial sums in it).
// CHECK-LABEL: func.func @c_read_later
// CHECK:         llvm.intr.fma
// CHECK:         linalg.generic
// CHECK:         linalg.generic
func.func @c_read_later(%a: memref<6x8xf32>, %b: memref<8x16xf32>, %out: memref<6x16xf32>, %out2: memref<6x16xf32>) {
  %c = memref.alloc() {alignment = 64 : i64} : memref<6x16xf32>
  linalg.matmul ins(%a, %b : memref<6x8xf32>, memref<8x16xf32>) outs(%c : memref<6x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%c : memref<6x16xf32>) outs(%out : memref<6x16xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.addf %x, %x : f32
    linalg.yield %y : f32
  }
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%c : memref<6x16xf32>) outs(%out2 : memref<6x16xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  }
  memref.dealloc %c : memref<6x16xf32>
  func.return
}

// -----

// Left alone: C read transposed, a libm call (no vector form), math.exp (its
// expansion compares and selects, which xDSL types on scalars only), an operand
// with a column stride of 2.
// CHECK-LABEL: func.func @not_absorbed
// CHECK:         llvm.intr.fma
// CHECK:         linalg.generic
// CHECK-LABEL: func.func @libm
// CHECK:         llvm.intr.fma
// CHECK:         linalg.generic
// CHECK:         math.sinh
// CHECK-LABEL: func.func @sigmoid
// CHECK:         llvm.intr.fma
// CHECK:         linalg.generic
// CHECK:         math.exp
// CHECK-LABEL: func.func @strided
// CHECK:         llvm.intr.fma
// CHECK:         linalg.generic
func.func @not_absorbed(%a: memref<16x8xf32>, %b: memref<8x16xf32>, %c: memref<16x16xf32>) {
  linalg.matmul ins(%a, %b : memref<16x8xf32>, memref<8x16xf32>) outs(%c : memref<16x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (j, i)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%c : memref<16x16xf32>) outs(%c : memref<16x16xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.addf %x, %o : f32
    linalg.yield %y : f32
  }
  func.return
}
func.func @libm(%a: memref<6x8xf32>, %b: memref<8x16xf32>, %c: memref<6x16xf32>) {
  linalg.matmul ins(%a, %b : memref<6x8xf32>, memref<8x16xf32>) outs(%c : memref<6x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} outs(%c : memref<6x16xf32>) {
  ^bb0(%x: f32):
    %y = math.sinh %x : f32
    linalg.yield %y : f32
  }
  func.return
}
func.func @sigmoid(%a: memref<6x8xf32>, %b: memref<8x16xf32>, %c: memref<6x16xf32>) {
  linalg.matmul ins(%a, %b : memref<6x8xf32>, memref<8x16xf32>) outs(%c : memref<6x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} outs(%c : memref<6x16xf32>) {
  ^bb0(%x: f32):
    %one = arith.constant 1.0 : f32
    %n = arith.negf %x : f32
    %e = math.exp %n : f32
    %d = arith.addf %one, %e : f32
    %s = arith.divf %one, %d : f32
    linalg.yield %s : f32
  }
  func.return
}
func.func @strided(%a: memref<6x8xf32>, %b: memref<8x16xf32>, %c: memref<6x16xf32>, %r: memref<6x32xf32>) {
  linalg.matmul ins(%a, %b : memref<6x8xf32>, memref<8x16xf32>) outs(%c : memref<6x16xf32>)
  %s = memref.subview %r[0, 0] [6, 16] [1, 2] : memref<6x32xf32> to memref<6x16xf32, strided<[32, 2]>>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%s : memref<6x16xf32, strided<[32, 2]>>) outs(%c : memref<6x16xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.addf %x, %o : f32
    linalg.yield %y : f32
  }
  func.return
}

// -----

// The bias broadcast into C before the convolution (and a zero fill before the
// GEMM) is the init of the accumulators: no load of C, no loop writing C first.
// CHECK-LABEL: func.func @bias_init
// CHECK-NOT:     linalg.
// CHECK:         %[[B:.*]] = llvm.load {{.*}} -> f32
// CHECK:         llvm.insertelement %[[B]]
// CHECK:         %[[ACC:.*]] = llvm.shufflevector {{.*}} [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] : vector<16xf32>
// CHECK-NOT:     llvm.load {{.*}} -> vector<16xf32>
// CHECK:         scf.for {{.*}} iter_args(%{{.*}} = %[[ACC]]
// CHECK-LABEL: func.func @zero_init
// CHECK-NOT:     linalg.
// CHECK:         %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<16xf32>
// CHECK:         scf.for {{.*}} iter_args(%{{.*}} = %[[ZERO]]
func.func @bias_init(%x: memref<1x4x2x8xf32>, %w: memref<6x4x1x1xf32>, %bias: memref<6xf32>, %out: memref<1x6x2x8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (c)>, affine_map<(n, c, h, w) -> (n, c, h, w)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%bias : memref<6xf32>) outs(%out : memref<1x6x2x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    linalg.yield %v : f32
  }
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x4x2x8xf32>, memref<6x4x1x1xf32>) outs(%out : memref<1x6x2x8xf32>)
  func.return
}
func.func @zero_init(%a: memref<6x8xf32>, %b: memref<8x16xf32>, %c: memref<6x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<6x16xf32>)
  linalg.matmul ins(%a, %b : memref<6x8xf32>, memref<8x16xf32>) outs(%c : memref<6x16xf32>)
  func.return
}
