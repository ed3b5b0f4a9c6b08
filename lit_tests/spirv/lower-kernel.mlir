// RUN: dag-opt %s -p convert-loops-to-gpu | filecheck %s --check-prefix=GPU
// RUN: dag-opt %s -p convert-loops-to-gpu,convert-gpu-to-spirv | filecheck %s --check-prefix=SPIRV
// RUN: dag-opt %s -p 'convert-loops-to-gpu{workgroup_size=32},convert-gpu-to-spirv{spirv_version="1.5"}' | filecheck %s --check-prefix=V15

// A row-wise sum of exp(x): one scf.parallel over rows with an scf.for
// reduction inside becomes one kernel with one invocation per row.

func.func @rowsum(%x: memref<100x8xf32>, %y: memref<100xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c100 = arith.constant 100 : index
  %zero = arith.constant 0.0 : f32
  "scf.parallel"(%c0, %c100, %c1) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
  ^bb0(%i: index):
    %s = scf.for %k = %c0 to %c8 step %c1 iter_args(%acc = %zero) -> (f32) {
      %v = memref.load %x[%i, %k] : memref<100x8xf32>
      %e = math.exp %v : f32
      %n = arith.addf %acc, %e : f32
      scf.yield %n : f32
    }
    memref.store %s, %y[%i] : memref<100xf32>
    scf.reduce
  }) : (index, index, index) -> ()
  func.return
}

// GPU:      builtin.module attributes {gpu.container_module} {
// GPU:        func.func @rowsum(%x: memref<100x8xf32>, %y: memref<100xf32>) {
// GPU:          %[[TWO:.*]] = arith.constant 2 : index
// GPU-NEXT:     %[[ONE:.*]] = arith.constant 1 : index
// GPU-NEXT:     %[[WG:.*]] = arith.constant 64 : index
// GPU-NEXT:     "gpu.launch_func"(%[[TWO]], %[[ONE]], %[[ONE]], %[[WG]], %[[ONE]], %[[ONE]], %x, %y) <{kernel = @kernels::@rowsum_kernel_0
// GPU:        "gpu.module"() <{sym_name = "kernels"}> ({
// GPU-NEXT:     "gpu.func"() <{function_type = (memref<100x8xf32>, memref<100xf32>) -> (), kernel}> ({
// GPU:            %[[ID:.*]] = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
// GPU-NEXT:       %[[N:.*]] = arith.constant 100 : index
// GPU-NEXT:       %[[IN:.*]] = arith.cmpi ult, %[[ID]], %[[N]] : index
// GPU-NEXT:       scf.if %[[IN]] {
// GPU-NEXT:         %{{.*}} = scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args(%{{.*}} = %zero) -> (f32) {
// GPU-NEXT:           memref.load %{{.*}}[%[[ID]], %{{.*}}] : memref<100x8xf32>
// GPU:          "gpu.return"() : () -> ()
// GPU-NEXT:     }) {sym_name = "rowsum_kernel_0", gpu.known_block_size = array<i32: 64, 1, 1>, gpu.known_grid_size = array<i32: 2, 1, 1>} : () -> ()

// SPIRV:      "gpu.launch_func"({{.*}}) <{kernel = @rowsum_kernel_0::@rowsum_kernel_0
// SPIRV:      spirv.module @rowsum_kernel_0 Logical GLSL450 requires #spirv.vce<v1.3, [Shader], []> {
// SPIRV-NEXT:   spirv.GlobalVariable @__builtin__GlobalInvocationId__ built_in("GlobalInvocationId") : !spirv.ptr<vector<3xi32>, Input>
// SPIRV-NEXT:   spirv.GlobalVariable @rowsum_kernel_0_arg0 bind(0, 0) : !spirv.ptr<!spirv.struct<(!spirv.array<800 x f32, stride=4> [0, NonWritable]), Block>, StorageBuffer>
// SPIRV-NEXT:   spirv.GlobalVariable @rowsum_kernel_0_arg1 bind(0, 1) : !spirv.ptr<!spirv.struct<(!spirv.array<100 x f32, stride=4> [0]), Block>, StorageBuffer>
// SPIRV-NEXT:   spirv.func @rowsum_kernel_0() "None" {
// SPIRV:          %[[ACC:.*]] = spirv.Variable : !spirv.ptr<f32, Function>
// SPIRV:          spirv.mlir.selection {
// SPIRV:            spirv.mlir.loop {
// SPIRV-NEXT:         spirv.Branch ^bb1(%{{.*}}, %{{.*}} : i32, f32)
// SPIRV-NEXT:       ^bb1(%[[K:.*]]: i32, %[[PART:.*]]: f32):
// SPIRV-NEXT:         spirv.Store "Function" %[[ACC]], %[[PART]] : f32
// SPIRV-NEXT:         %[[LT:.*]] = spirv.SLessThan %[[K]], %{{.*}} : i32
// SPIRV-NEXT:         spirv.BranchConditional %[[LT]], ^bb2, ^bb4
// SPIRV:              spirv.AccessChain
// SPIRV-NEXT:         %[[V:.*]] = spirv.Load "StorageBuffer" %{{.*}} : f32
// SPIRV-NEXT:         %[[E:.*]] = spirv.GL.Exp %[[V]] : f32
// SPIRV-NEXT:         %[[N:.*]] = spirv.FAdd %[[PART]], %[[E]] : f32
// SPIRV-NEXT:         spirv.Branch ^bb3
// SPIRV-NEXT:       ^bb3:
// SPIRV-NEXT:         %[[K1:.*]] = spirv.IAdd %[[K]], %{{.*}} : i32
// SPIRV-NEXT:         spirv.Branch ^bb1(%[[K1]], %[[N]] : i32, f32)
// SPIRV-NEXT:       ^bb4:
// SPIRV-NEXT:         spirv.mlir.merge
// SPIRV-NEXT:       }
// SPIRV-NEXT:       %[[S:.*]] = spirv.Load "Function" %[[ACC]] : f32
// SPIRV:            spirv.Store "StorageBuffer" %{{.*}}, %[[S]] : f32
// SPIRV:        spirv.EntryPoint "GLCompute" @rowsum_kernel_0, @__builtin__GlobalInvocationId__{{$}}
// SPIRV-NEXT:   spirv.ExecutionMode @rowsum_kernel_0 "LocalSize", 64, 1, 1

// From SPIR-V 1.4 on the entry point lists the buffers too.
// V15:        spirv.module @rowsum_kernel_0 Logical GLSL450 requires #spirv.vce<v1.5, [Shader], []> {
// V15:          spirv.EntryPoint "GLCompute" @rowsum_kernel_0, @__builtin__GlobalInvocationId__, @rowsum_kernel_0_arg0, @rowsum_kernel_0_arg1
// V15-NEXT:     spirv.ExecutionMode @rowsum_kernel_0 "LocalSize", 32, 1, 1
