// RUN: dag-opt %s | filecheck %s
// RUN: dag-opt %s | dag-opt | filecheck %s

// The spirv dialect prints what it parses, in MLIR's spelling.

// CHECK-LABEL: spirv.module @sum Logical GLSL450 requires #spirv.vce<v1.5, [Shader], []> {
spirv.module @sum Logical GLSL450 requires #spirv.vce<v1.5, [Shader], []> {
  // CHECK-NEXT: spirv.GlobalVariable @gid built_in("GlobalInvocationId") : !spirv.ptr<vector<3xi32>, Input>
  spirv.GlobalVariable @gid built_in("GlobalInvocationId") : !spirv.ptr<vector<3xi32>, Input>
  // CHECK-NEXT: spirv.GlobalVariable @src bind(0, 0) : !spirv.ptr<!spirv.struct<(!spirv.array<32 x f32, stride=4> [0, NonWritable]), Block>, StorageBuffer>
  spirv.GlobalVariable @src bind(0, 0) : !spirv.ptr<!spirv.struct<(!spirv.array<32 x f32, stride=4> [0, NonWritable]), Block>, StorageBuffer>
  // CHECK-NEXT: spirv.GlobalVariable @dst bind(0, 1) : !spirv.ptr<!spirv.struct<(!spirv.rtarray<f32, stride=4> [0]), Block>, StorageBuffer>
  spirv.GlobalVariable @dst bind(0, 1) : !spirv.ptr<!spirv.struct<(!spirv.rtarray<f32, stride=4> [0]), Block>, StorageBuffer>
  // CHECK-NEXT: spirv.func @sum() "None" {
  spirv.func @sum() "None" {
    // CHECK-NEXT: %acc = spirv.Variable : !spirv.ptr<f32, Function>
    %acc = spirv.Variable : !spirv.ptr<f32, Function>
    %c0 = spirv.Constant 0 : i32
    %c1 = spirv.Constant 1 : i32
    %c4 = spirv.Constant 4 : i32
    %c8 = spirv.Constant 8 : i32
    %f0 = spirv.Constant 0.000000e+00 : f32
    %g = spirv.mlir.addressof @gid : !spirv.ptr<vector<3xi32>, Input>
    // CHECK: %gv = spirv.Load "Input" %g : vector<3xi32>
    %gv = spirv.Load "Input" %g : vector<3xi32>
    // CHECK-NEXT: %row = spirv.CompositeExtract %gv[0 : i32] : vector<3xi32>
    %row = spirv.CompositeExtract %gv[0 : i32] : vector<3xi32>
    // CHECK-NEXT: %in = spirv.ULessThan %row, %c4 : i32
    %in = spirv.ULessThan %row, %c4 : i32
    // CHECK-NEXT: spirv.mlir.selection {
    // CHECK-NEXT:   spirv.BranchConditional %in, ^bb1, ^bb2
    spirv.mlir.selection {
      spirv.BranchConditional %in, ^bb1, ^bb2
    ^bb1:
      %s = spirv.mlir.addressof @src : !spirv.ptr<!spirv.struct<(!spirv.array<32 x f32, stride=4> [0, NonWritable]), Block>, StorageBuffer>
      %base = spirv.IMul %row, %c8 : i32
      // CHECK: spirv.mlir.loop {
      // CHECK-NEXT: spirv.Branch ^bb1(%c0, %f0 : i32, f32)
      // CHECK-NEXT: ^bb1(%k: i32, %part: f32):
      spirv.mlir.loop {
        spirv.Branch ^bb1(%c0, %f0 : i32, f32)
      ^bb1(%k: i32, %part: f32):
        spirv.Store "Function" %acc, %part : f32
        %lt = spirv.SLessThan %k, %c8 : i32
        spirv.BranchConditional %lt, ^bb2, ^bb4
      ^bb2:
        %i = spirv.IAdd %base, %k : i32
        // CHECK: spirv.AccessChain %s[%c0, %i] : !spirv.ptr<!spirv.struct<(!spirv.array<32 x f32, stride=4> [0, NonWritable]), Block>, StorageBuffer>, i32, i32 -> !spirv.ptr<f32, StorageBuffer>
        %p = spirv.AccessChain %s[%c0, %i] : !spirv.ptr<!spirv.struct<(!spirv.array<32 x f32, stride=4> [0, NonWritable]), Block>, StorageBuffer>, i32, i32 -> !spirv.ptr<f32, StorageBuffer>
        %v = spirv.Load "StorageBuffer" %p : f32
        // CHECK: spirv.GL.Exp %v : f32
        %e = spirv.GL.Exp %v : f32
        %m = spirv.GL.FMax %e, %f0 : f32
        %t = spirv.GL.Fma %m, %m, %part : f32
        // CHECK: spirv.FOrdGreaterThan %t, %f0 : f32
        %pos = spirv.FOrdGreaterThan %t, %f0 : f32
        // CHECK-NEXT: spirv.Select %pos, %t, %f0 : i1, f32
        %n = spirv.Select %pos, %t, %f0 : i1, f32
        spirv.Branch ^bb3
      ^bb3:
        %k1 = spirv.IAdd %k, %c1 : i32
        spirv.Branch ^bb1(%k1, %n : i32, f32)
      ^bb4:
        // CHECK: spirv.mlir.merge
        spirv.mlir.merge
      }
      %r = spirv.Load "Function" %acc : f32
      %d = spirv.mlir.addressof @dst : !spirv.ptr<!spirv.struct<(!spirv.rtarray<f32, stride=4> [0]), Block>, StorageBuffer>
      %q = spirv.AccessChain %d[%c0, %row] : !spirv.ptr<!spirv.struct<(!spirv.rtarray<f32, stride=4> [0]), Block>, StorageBuffer>, i32, i32 -> !spirv.ptr<f32, StorageBuffer>
      // CHECK: spirv.ConvertSToF %row : i32 to f32
      %fr = spirv.ConvertSToF %row : i32 to f32
      %w = spirv.FAdd %r, %fr : f32
      // CHECK: spirv.Store "StorageBuffer" %q, %w : f32
      spirv.Store "StorageBuffer" %q, %w : f32
      spirv.Branch ^bb2
    ^bb2:
      spirv.mlir.merge
    }
    // CHECK: spirv.Return
    spirv.Return
  }
  // CHECK: spirv.EntryPoint "GLCompute" @sum, @gid, @src, @dst
  spirv.EntryPoint "GLCompute" @sum, @gid, @src, @dst
  // CHECK-NEXT: spirv.ExecutionMode @sum "LocalSize", 4, 1, 1
  spirv.ExecutionMode @sum "LocalSize", 4, 1, 1
}
