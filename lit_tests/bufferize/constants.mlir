// RUN: dag-opt %s -p dagc-bufferize | filecheck %s

// Tensor constants become private constant memref.globals (one per distinct value)
// read through memref.get_global. A dense_resource blob is decoded into a dense
// value: xDSL's memref.global does not take dense_resource initial values. A
// returned constant is copied into its out-parameter (globals are read-only).

// CHECK:       "memref.global"() <{sym_name = "__constant_weight", type = memref<2x3xf32>, initial_value = dense<{{\[\[}}0.000000e+00, 2.500000e-01, 5.000000e-01], [7.500000e-01, 1.000000e+00, 1.250000e+00]]> : tensor<2x3xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
// CHECK-NEXT:  "memref.global"() <{sym_name = "__constant_2x3xf32", type = memref<2x3xf32>, initial_value = dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00], [4.000000e+00, 5.000000e+00, 6.000000e+00]]> : tensor<2x3xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
// CHECK-NEXT:  "memref.global"() <{sym_name = "__constant_2x3xf32_0", type = memref<2x3xf32>, initial_value = dense<5.000000e-01> : tensor<2x3xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
// CHECK-NOT:   memref.global
// CHECK-LABEL: func.func @constants(
// CHECK:         %[[W:.*]] = memref.get_global @__constant_weight : memref<2x3xf32>
// CHECK-NEXT:    %[[B:.*]] = memref.get_global @__constant_2x3xf32 : memref<2x3xf32>
// CHECK-NEXT:    %[[S:.*]] = memref.get_global @__constant_2x3xf32_0 : memref<2x3xf32>
// CHECK-NEXT:    %[[B2:.*]] = memref.get_global @__constant_2x3xf32 : memref<2x3xf32>
// CHECK-NEXT:    linalg.generic {{.*}} ins(%x, %[[W]], %[[B]], %[[B2]] : {{.*}}) outs(%out : memref<2x3xf32>)
// CHECK:         "memref.copy"(%[[S]], %out_1)
#id = affine_map<(i, j) -> (i, j)>
func.func @constants(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %w = arith.constant dense_resource<weight> : tensor<2x3xf32>
  %b = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %s = arith.constant dense<0.5> : tensor<2x3xf32>
  %b2 = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %e = tensor.empty() : tensor<2x3xf32>
  %r = linalg.generic {indexing_maps = [#id, #id, #id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %w, %b, %b2 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%p: f32, %q: f32, %c: f32, %d: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    %a = arith.addf %m, %c : f32
    %a2 = arith.addf %a, %d : f32
    linalg.yield %a2 : f32
  } -> tensor<2x3xf32>
  return %r, %s : tensor<2x3xf32>, tensor<2x3xf32>
}
{-#
  dialect_resources: {
    builtin: {
      weight: "0x04000000000000000000803E0000003F0000403F0000803F0000A03F"
    }
  }
#-}
