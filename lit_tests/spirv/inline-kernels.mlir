// RUN: dag-opt %s -p 'convert-loops-to-gpu{inline_calls=true wrap_scalar_code=true}' | filecheck %s

// A whole model after bufferization: @forward calls private kernel functions
// with out-parameters it allocates, passes a subview of its buffer as an
// out-parameter, and stores a scalar outside any loop. The calls are inlined,
// the view is folded into the accesses, the two calls of @k_neg share one
// kernel, and the scalar store runs as a single-invocation kernel.

func.func @forward(%x: memref<4xf32>, %out: memref<8xf32>, %s: memref<f32>) {
  %t = memref.alloc() : memref<4xf32>
  func.call @k_neg(%x, %t) : (memref<4xf32>, memref<4xf32>) -> ()
  %t2 = memref.alloc() : memref<4xf32>
  func.call @k_neg(%t, %t2) : (memref<4xf32>, memref<4xf32>) -> ()
  %v = memref.subview %out[4] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: 4>>
  func.call @k_neg_view(%t2, %v) : (memref<4xf32>, memref<4xf32, strided<[1], offset: 4>>) -> ()
  %c0 = arith.constant 0 : index
  %a = memref.load %t[%c0] : memref<4xf32>
  memref.store %a, %s[] : memref<f32>
  memref.dealloc %t : memref<4xf32>
  memref.dealloc %t2 : memref<4xf32>
  func.return
}

func.func private @k_neg(%a: memref<4xf32>, %b: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  "scf.parallel"(%c0, %c4, %c1) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
  ^bb0(%i: index):
    %l = memref.load %a[%i] : memref<4xf32>
    %n = arith.negf %l : f32
    memref.store %n, %b[%i] : memref<4xf32>
    scf.reduce
  }) : (index, index, index) -> ()
  func.return
}

func.func private @k_neg_view(%a: memref<4xf32>, %b: memref<4xf32, strided<[1], offset: 4>>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  "scf.parallel"(%c0, %c4, %c1) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
  ^bb0(%i: index):
    %l = memref.load %a[%i] : memref<4xf32>
    %n = arith.negf %l : f32
    memref.store %n, %b[%i] : memref<4xf32, strided<[1], offset: 4>>
    scf.reduce
  }) : (index, index, index) -> ()
  func.return
}

// CHECK:      func.func @forward(%x: memref<4xf32>, %out: memref<8xf32>, %s: memref<f32>) {
// CHECK-NOT:    func.call
// CHECK:        %t = memref.alloc() : memref<4xf32>
// CHECK:        "gpu.launch_func"({{.*}}, %x, %t) <{kernel = @kernels::@forward_kernel_0
// CHECK:        %t2 = memref.alloc() : memref<4xf32>
// CHECK:        "gpu.launch_func"({{.*}}, %t, %t2) <{kernel = @kernels::@forward_kernel_0
// CHECK-NOT:    memref.subview
// CHECK:        "gpu.launch_func"({{.*}}, %t2, %out) <{kernel = @kernels::@forward_kernel_1
// CHECK:        "gpu.launch_func"({{.*}}, %t, %s) <{kernel = @kernels::@forward_kernel_2
// CHECK:        memref.dealloc %t : memref<4xf32>
// CHECK:        memref.dealloc %t2 : memref<4xf32>
// CHECK-NEXT:   func.return
// CHECK-NOT:  @k_neg
// CHECK:      "gpu.func"() <{function_type = (memref<4xf32>, memref<8xf32>) -> (), kernel}>
// CHECK:        %[[SHIFTED:.*]] = arith.addi %{{.*}}, %{{.*}} : index
// CHECK-NEXT:   memref.store %n, %1[%[[SHIFTED]]] : memref<8xf32>
// CHECK:      sym_name = "forward_kernel_1"
// CHECK:      "gpu.func"() <{function_type = (memref<4xf32>, memref<f32>) -> (), kernel}>
// CHECK:        scf.for
// CHECK-NEXT:     %a = memref.load %0[%c0] : memref<4xf32>
// CHECK-NEXT:     memref.store %a, %1[] : memref<f32>
// CHECK:      sym_name = "forward_kernel_2", gpu.known_block_size = array<i32: 1, 1, 1>
// CHECK-NOT:  sym_name = "forward_kernel_3"
