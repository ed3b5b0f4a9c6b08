// dag-translate --serialize-spirv writes a binary that spirv-val accepts.
// REQUIRES: spirv-val
// RUN: dag-translate %s --serialize-spirv -o %t.spv
// RUN: spirv-val --target-env vulkan1.2 %t.spv
// RUN: not dag-translate %S/../dag/roundtrip.mlir --serialize-spirv 2>&1 | filecheck %s --check-prefix=NONE
// NONE: error: expected exactly one spirv.module, found 0

spirv.module Logical GLSL450 requires #spirv.vce<v1.3, [Shader], []> {
  spirv.GlobalVariable @gid built_in("GlobalInvocationId") : !spirv.ptr<vector<3xi32>, Input>
  spirv.GlobalVariable @buf bind(0, 0) : !spirv.ptr<!spirv.struct<(!spirv.rtarray<f32, stride=4> [0]), Block>, StorageBuffer>
  spirv.func @double() "None" {
    %gid_addr = spirv.mlir.addressof @gid : !spirv.ptr<vector<3xi32>, Input>
    %gid = spirv.Load "Input" %gid_addr : vector<3xi32>
    %i = spirv.CompositeExtract %gid[0 : i32] : vector<3xi32>
    %zero = spirv.Constant 0 : i32
    %buf = spirv.mlir.addressof @buf : !spirv.ptr<!spirv.struct<(!spirv.rtarray<f32, stride=4> [0]), Block>, StorageBuffer>
    %p = spirv.AccessChain %buf[%zero, %i] : !spirv.ptr<!spirv.struct<(!spirv.rtarray<f32, stride=4> [0]), Block>, StorageBuffer>, i32, i32 -> !spirv.ptr<f32, StorageBuffer>
    %v = spirv.Load "StorageBuffer" %p : f32
    %two = spirv.FAdd %v, %v : f32
    spirv.Store "StorageBuffer" %p, %two : f32
    spirv.Return
  }
  spirv.EntryPoint "GLCompute" @double, @gid
  spirv.ExecutionMode @double "LocalSize", 64, 1, 1
}
