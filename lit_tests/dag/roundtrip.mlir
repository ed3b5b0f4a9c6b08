// Every dag op round-trips through its custom form and through the generic form.
// RUN: dag-opt %s | filecheck %s
// RUN: dag-opt %s --mlir-print-op-generic | dag-opt | filecheck %s
// RUN: dag-opt %s --mlir-print-op-generic | filecheck %s --check-prefix=GENERIC

// GENERIC: "dag.conv2d"(%x, %0, %1) <{name = "conv", stride = array<i64: 2, 2>
// GENERIC: "dag.opaque"(%x, %w) <{name = "act", class = "pkg.mod.MyActivation", state = ["scale"]}>

builtin.module {
  func.func @forward(%x: tensor<1x4x4x4xf32>, %y: tensor<1x8x3xf32>) -> (tensor<1x6xf32>, tensor<1x4x1x1xf32>, tensor<1x6x6xf32>) {
    %0 = dag.constant "conv.weight"() {value = dense_resource<conv_weight> : tensor<4x2x3x3xf32>} : () -> tensor<4x2x3x3xf32>
    %1 = dag.constant "conv.bias"() {value = dense_resource<conv_bias> : tensor<4xf32>} : () -> tensor<4xf32>
    %2 = dag.conv2d "conv"(%x, %0, %1) {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<1x4x4x4xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<1x4x2x2xf32>
    %3 = dag.constant "convt.weight"() {value = dense_resource<convt_weight> : tensor<4x2x2x2xf32>} : () -> tensor<4x2x2x2xf32>
    %4 = dag.constant "convt.bias"() {value = dense_resource<convt_bias> : tensor<2xf32>} : () -> tensor<2xf32>
    %5 = dag.conv_transpose2d "convt"(%2, %3, %4) {stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, output_padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x4x2x2xf32>, tensor<4x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
    %6 = dag.concat "cat"(%5, %5) {dim = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x4x4x4xf32>
    %7 = dag.constant "bn.running_mean"() {value = dense_resource<bn_running_mean> : tensor<4xf32>} : () -> tensor<4xf32>
    %8 = dag.constant "bn.running_var"() {value = dense_resource<bn_running_var> : tensor<4xf32>} : () -> tensor<4xf32>
    %9 = dag.constant "bn.weight"() {value = dense_resource<bn_weight> : tensor<4xf32>} : () -> tensor<4xf32>
    %10 = dag.constant "bn.bias"() {value = dense_resource<bn_bias> : tensor<4xf32>} : () -> tensor<4xf32>
    %11 = dag.batch_norm "bn"(%6, %7, %8, %9, %10) {eps = 1.000000e-05 : f64} : (tensor<1x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
    %12 = dag.constant "gn.weight"() {value = dense_resource<gn_weight> : tensor<4xf32>} : () -> tensor<4xf32>
    %13 = dag.constant "gn.bias"() {value = dense_resource<gn_bias> : tensor<4xf32>} : () -> tensor<4xf32>
    %14 = dag.group_norm "gn"(%11, %12, %13) {num_groups = 2 : i64, eps = 1.000000e-05 : f64} : (tensor<1x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
    %15 = dag.max_pool2d "max_pool2d"(%14) {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, ceil_mode} : (tensor<1x4x4x4xf32>) -> tensor<1x4x2x2xf32>
    %16 = dag.avg_pool2d "avg_pool2d"(%14) {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
    %17 = dag.adaptive_avg_pool2d "adaptive_avg_pool2d"(%16) {output_size = array<i64: 1, 1>} : (tensor<1x4x4x4xf32>) -> tensor<1x4x1x1xf32>
    %18 = dag.interpolate "interpolate"(%15) {mode = "bilinear"} : (tensor<1x4x2x2xf32>) -> tensor<1x4x4x4xf32>
    %19 = dag.pad "pad"(%18) {pads = array<i64: 1, 1, 0, 0>, mode = "constant", value = 5.000000e-01 : f64} : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x6xf32>
    %20 = dag.slice "getitem"(%19) {dim = 1 : i64, start = 1 : i64, end = 3 : i64, step = 1 : i64} : (tensor<1x4x4x6xf32>) -> tensor<1x2x4x6xf32>
    %21 = dag.slice "getitem.1"(%20) {dim = 3 : i64, start = 0 : i64, end = 6 : i64, step = 2 : i64} : (tensor<1x2x4x6xf32>) -> tensor<1x2x4x3xf32>
    %22 = dag.permute "permute"(%21) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x3xf32>) -> tensor<1x4x3x2xf32>
    %23 = dag.reshape "reshape"(%22) : (tensor<1x4x3x2xf32>) -> tensor<1x6x4xf32>
    %24 = dag.constant "ln.weight"() {value = dense_resource<ln_weight> : tensor<4xf32>} : () -> tensor<4xf32>
    %25 = dag.constant "ln.bias"() {value = dense_resource<ln_bias> : tensor<4xf32>} : () -> tensor<4xf32>
    %26 = dag.layer_norm "ln"(%23, %24, %25) {eps = 1.000000e-05 : f64} : (tensor<1x6x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x6x4xf32>
    %27 = dag.constant "lin.weight"() {value = dense_resource<lin_weight> : tensor<3x4xf32>} : () -> tensor<3x4xf32>
    %28 = dag.constant "lin.bias"() {value = dense_resource<lin_bias> : tensor<3xf32>} : () -> tensor<3xf32>
    %29 = dag.linear "lin"(%26, %27, %28) : (tensor<1x6x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<1x6x3xf32>
    %30 = dag.permute "transpose"(%29) {perm = array<i64: 0, 2, 1>} : (tensor<1x6x3xf32>) -> tensor<1x3x6xf32>
    %31 = dag.matmul "matmul"(%29, %30) : (tensor<1x6x3xf32>, tensor<1x3x6xf32>) -> tensor<1x6x6xf32>
    %32 = dag.scaled_dot_product_attention "scaled_dot_product_attention"(%29, %29, %29) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %33 = dag.constant "sub.c0"() {value = dense<1.000000e+00> : tensor<f32>} : () -> tensor<f32>
    %34 = dag.sub "sub"(%32, %33) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
    %35 = dag.constant "mul.c0"() {value = dense<2.000000e+00> : tensor<f32>} : () -> tensor<f32>
    %36 = dag.mul "mul"(%34, %35) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
    %37 = dag.constant "truediv.c0"() {value = dense<3.000000e+00> : tensor<f32>} : () -> tensor<f32>
    %38 = dag.div "truediv"(%36, %37) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
    %39 = dag.slice "getitem_1"(%y) {dim = 1 : i64, start = 0 : i64, end = 1 : i64, step = 1 : i64} : (tensor<1x8x3xf32>) -> tensor<1x1x3xf32>
    %40 = dag.expand "expand"(%39) : (tensor<1x1x3xf32>) -> tensor<1x6x3xf32>
    %41 = dag.add "add"(%38, %40) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %42 = dag.constant "pow_1.c0"() {value = dense<2.000000e+00> : tensor<f32>} : () -> tensor<f32>
    %43 = dag.pow "pow_1"(%41, %42) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
    %44 = dag.minimum "minimum"(%41, %43) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %45 = dag.maximum "maximum"(%43, %44) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %46 = dag.abs "abs_1"(%45) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %47 = dag.sqrt "sqrt"(%46) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %48 = dag.neg "neg"(%47) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %49 = dag.abs "abs_2"(%45) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %50 = dag.constant "add_1.c0"() {value = dense<1.000000e+00> : tensor<f32>} : () -> tensor<f32>
    %51 = dag.add "add_1"(%49, %50) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
    %52 = dag.rsqrt "rsqrt"(%51) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %53 = dag.add "add_2"(%48, %52) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %54 = dag.exp "exp"(%45) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %55 = dag.add "add_3"(%53, %54) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %56 = dag.abs "abs_3"(%45) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %57 = dag.constant "add_4.c0"() {value = dense<1.000000e+00> : tensor<f32>} : () -> tensor<f32>
    %58 = dag.add "add_4"(%56, %57) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
    %59 = dag.log "log"(%58) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %60 = dag.add "add_5"(%55, %59) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %61 = dag.erf "erf"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %62 = dag.tanh "tanh"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %63 = dag.add "add_6"(%61, %62) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %64 = dag.sigmoid "sigmoid"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %65 = dag.add "add_7"(%63, %64) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %66 = dag.relu "relu"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %67 = dag.add "add_8"(%65, %66) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %68 = dag.relu6 "relu6"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %69 = dag.add "add_9"(%67, %68) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %70 = dag.silu "silu"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %71 = dag.add "add_10"(%69, %70) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %72 = dag.hardswish "hardswish"(%71) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %73 = dag.hardsigmoid "hardsigmoid"(%71) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %74 = dag.add "add_11"(%72, %73) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %75 = dag.gelu "gelu"(%71) {approximate = "tanh"} : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %76 = dag.add "add_12"(%74, %75) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %77 = dag.leaky_relu "leaky_relu"(%71) {negative_slope = 2.000000e-01 : f64} : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %78 = dag.add "add_13"(%76, %77) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %79 = dag.clamp "clamp"(%71) {min = -1.000000e+00 : f64, max = 2.000000e+00 : f64} : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %80 = dag.add "add_14"(%78, %79) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %81 = dag.softmax "softmax"(%80) {dim = 2 : i64} : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %82 = dag.log_softmax "log_softmax"(%80) {dim = 1 : i64} : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %83 = dag.add "add_15"(%81, %82) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
    %84 = dag.mean "mean"(%83) {dims = array<i64: 1>, keepdim} : (tensor<1x6x3xf32>) -> tensor<1x1x3xf32>
    %85 = dag.sum "sum_1"(%83) {dims = array<i64: 2>, keepdim} : (tensor<1x6x3xf32>) -> tensor<1x6x1xf32>
    %86 = dag.add "add_16"(%84, %85) : (tensor<1x1x3xf32>, tensor<1x6x1xf32>) -> tensor<1x6x3xf32>
    %87 = dag.slice "getitem_2"(%83) {dim = 1 : i64, start = 0 : i64, end = 1 : i64, step = 1 : i64} : (tensor<1x6x3xf32>) -> tensor<1x1x3xf32>
    %88 = dag.slice "getitem_2.1"(%87) {dim = 2 : i64, start = 0 : i64, end = 1 : i64, step = 1 : i64} : (tensor<1x1x3xf32>) -> tensor<1x1x1xf32>
    %89 = dag.add "add_17"(%86, %88) : (tensor<1x6x3xf32>, tensor<1x1x1xf32>) -> tensor<1x6x3xf32>
    %90 = dag.select "select"(%89) {dim = 2 : i64, index = 0 : i64} : (tensor<1x6x3xf32>) -> tensor<1x6xf32>
    func.return %90, %17, %31 : tensor<1x6xf32>, tensor<1x4x1x1xf32>, tensor<1x6x6xf32>
  }
  func.func @opaque(%x: tensor<1x4xf32>, %w: tensor<4xf32>) -> (tensor<1x4xf32>, tensor<1x2xf32>) {
    %0:2 = dag.opaque "act"(%x, %w) {class = "pkg.mod.MyActivation", state = ["scale"]} : (tensor<1x4xf32>, tensor<4xf32>) -> (tensor<1x4xf32>, tensor<1x2xf32>)
    func.return %0#0, %0#1 : tensor<1x4xf32>, tensor<1x2xf32>
  }
}

// CHECK-LABEL: func.func @forward(%x: tensor<1x4x4x4xf32>, %y: tensor<1x8x3xf32>) -> (tensor<1x6xf32>, tensor<1x4x1x1xf32>, tensor<1x6x6xf32>) {
// CHECK-NEXT: %0 = dag.constant "conv.weight"() {value = dense_resource<conv_weight> : tensor<4x2x3x3xf32>} : () -> tensor<4x2x3x3xf32>
// CHECK-NEXT: %1 = dag.constant "conv.bias"() {value = dense_resource<conv_bias> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT: %2 = dag.conv2d "conv"(%x, %0, %1) {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<1x4x4x4xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<1x4x2x2xf32>
// CHECK-NEXT: %3 = dag.constant "convt.weight"() {value = dense_resource<convt_weight> : tensor<4x2x2x2xf32>} : () -> tensor<4x2x2x2xf32>
// CHECK-NEXT: %4 = dag.constant "convt.bias"() {value = dense_resource<convt_bias> : tensor<2xf32>} : () -> tensor<2xf32>
// CHECK-NEXT: %5 = dag.conv_transpose2d "convt"(%2, %3, %4) {stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, output_padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x4x2x2xf32>, tensor<4x2x2x2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
// CHECK-NEXT: %6 = dag.concat "cat"(%5, %5) {dim = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT: %7 = dag.constant "bn.running_mean"() {value = dense_resource<bn_running_mean> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT: %8 = dag.constant "bn.running_var"() {value = dense_resource<bn_running_var> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT: %9 = dag.constant "bn.weight"() {value = dense_resource<bn_weight> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT: %10 = dag.constant "bn.bias"() {value = dense_resource<bn_bias> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT: %11 = dag.batch_norm "bn"(%6, %7, %8, %9, %10) {eps = 1.000000e-05 : f64} : (tensor<1x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT: %12 = dag.constant "gn.weight"() {value = dense_resource<gn_weight> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT: %13 = dag.constant "gn.bias"() {value = dense_resource<gn_bias> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT: %14 = dag.group_norm "gn"(%11, %12, %13) {num_groups = 2 : i64, eps = 1.000000e-05 : f64} : (tensor<1x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT: %15 = dag.max_pool2d "max_pool2d"(%14) {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, ceil_mode} : (tensor<1x4x4x4xf32>) -> tensor<1x4x2x2xf32>
// CHECK-NEXT: %16 = dag.avg_pool2d "avg_pool2d"(%14) {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT: %17 = dag.adaptive_avg_pool2d "adaptive_avg_pool2d"(%16) {output_size = array<i64: 1, 1>} : (tensor<1x4x4x4xf32>) -> tensor<1x4x1x1xf32>
// CHECK-NEXT: %18 = dag.interpolate "interpolate"(%15) {mode = "bilinear"} : (tensor<1x4x2x2xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT: %19 = dag.pad "pad"(%18) {pads = array<i64: 1, 1, 0, 0>, mode = "constant", value = 5.000000e-01 : f64} : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x6xf32>
// CHECK-NEXT: %20 = dag.slice "getitem"(%19) {dim = 1 : i64, start = 1 : i64, end = 3 : i64, step = 1 : i64} : (tensor<1x4x4x6xf32>) -> tensor<1x2x4x6xf32>
// CHECK-NEXT: %21 = dag.slice "getitem.1"(%20) {dim = 3 : i64, start = 0 : i64, end = 6 : i64, step = 2 : i64} : (tensor<1x2x4x6xf32>) -> tensor<1x2x4x3xf32>
// CHECK-NEXT: %22 = dag.permute "permute"(%21) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x2x4x3xf32>) -> tensor<1x4x3x2xf32>
// CHECK-NEXT: %23 = dag.reshape "reshape"(%22) : (tensor<1x4x3x2xf32>) -> tensor<1x6x4xf32>
// CHECK-NEXT: %24 = dag.constant "ln.weight"() {value = dense_resource<ln_weight> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT: %25 = dag.constant "ln.bias"() {value = dense_resource<ln_bias> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT: %26 = dag.layer_norm "ln"(%23, %24, %25) {eps = 1.000000e-05 : f64} : (tensor<1x6x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x6x4xf32>
// CHECK-NEXT: %27 = dag.constant "lin.weight"() {value = dense_resource<lin_weight> : tensor<3x4xf32>} : () -> tensor<3x4xf32>
// CHECK-NEXT: %28 = dag.constant "lin.bias"() {value = dense_resource<lin_bias> : tensor<3xf32>} : () -> tensor<3xf32>
// CHECK-NEXT: %29 = dag.linear "lin"(%26, %27, %28) : (tensor<1x6x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %30 = dag.permute "transpose"(%29) {perm = array<i64: 0, 2, 1>} : (tensor<1x6x3xf32>) -> tensor<1x3x6xf32>
// CHECK-NEXT: %31 = dag.matmul "matmul"(%29, %30) : (tensor<1x6x3xf32>, tensor<1x3x6xf32>) -> tensor<1x6x6xf32>
// CHECK-NEXT: %32 = dag.scaled_dot_product_attention "scaled_dot_product_attention"(%29, %29, %29) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %33 = dag.constant "sub.c0"() {value = dense<1.000000e+00> : tensor<f32>} : () -> tensor<f32>
// CHECK-NEXT: %34 = dag.sub "sub"(%32, %33) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %35 = dag.constant "mul.c0"() {value = dense<2.000000e+00> : tensor<f32>} : () -> tensor<f32>
// CHECK-NEXT: %36 = dag.mul "mul"(%34, %35) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %37 = dag.constant "truediv.c0"() {value = dense<3.000000e+00> : tensor<f32>} : () -> tensor<f32>
// CHECK-NEXT: %38 = dag.div "truediv"(%36, %37) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %39 = dag.slice "getitem_1"(%y) {dim = 1 : i64, start = 0 : i64, end = 1 : i64, step = 1 : i64} : (tensor<1x8x3xf32>) -> tensor<1x1x3xf32>
// CHECK-NEXT: %40 = dag.expand "expand"(%39) : (tensor<1x1x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %41 = dag.add "add"(%38, %40) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %42 = dag.constant "pow_1.c0"() {value = dense<2.000000e+00> : tensor<f32>} : () -> tensor<f32>
// CHECK-NEXT: %43 = dag.pow "pow_1"(%41, %42) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %44 = dag.minimum "minimum"(%41, %43) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %45 = dag.maximum "maximum"(%43, %44) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %46 = dag.abs "abs_1"(%45) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %47 = dag.sqrt "sqrt"(%46) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %48 = dag.neg "neg"(%47) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %49 = dag.abs "abs_2"(%45) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %50 = dag.constant "add_1.c0"() {value = dense<1.000000e+00> : tensor<f32>} : () -> tensor<f32>
// CHECK-NEXT: %51 = dag.add "add_1"(%49, %50) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %52 = dag.rsqrt "rsqrt"(%51) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %53 = dag.add "add_2"(%48, %52) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %54 = dag.exp "exp"(%45) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %55 = dag.add "add_3"(%53, %54) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %56 = dag.abs "abs_3"(%45) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %57 = dag.constant "add_4.c0"() {value = dense<1.000000e+00> : tensor<f32>} : () -> tensor<f32>
// CHECK-NEXT: %58 = dag.add "add_4"(%56, %57) : (tensor<1x6x3xf32>, tensor<f32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %59 = dag.log "log"(%58) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %60 = dag.add "add_5"(%55, %59) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %61 = dag.erf "erf"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %62 = dag.tanh "tanh"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %63 = dag.add "add_6"(%61, %62) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %64 = dag.sigmoid "sigmoid"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %65 = dag.add "add_7"(%63, %64) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %66 = dag.relu "relu"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %67 = dag.add "add_8"(%65, %66) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %68 = dag.relu6 "relu6"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %69 = dag.add "add_9"(%67, %68) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %70 = dag.silu "silu"(%60) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %71 = dag.add "add_10"(%69, %70) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %72 = dag.hardswish "hardswish"(%71) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %73 = dag.hardsigmoid "hardsigmoid"(%71) : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %74 = dag.add "add_11"(%72, %73) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %75 = dag.gelu "gelu"(%71) {approximate = "tanh"} : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %76 = dag.add "add_12"(%74, %75) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %77 = dag.leaky_relu "leaky_relu"(%71) {negative_slope = 2.000000e-01 : f64} : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %78 = dag.add "add_13"(%76, %77) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %79 = dag.clamp "clamp"(%71) {min = -1.000000e+00 : f64, max = 2.000000e+00 : f64} : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %80 = dag.add "add_14"(%78, %79) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %81 = dag.softmax "softmax"(%80) {dim = 2 : i64} : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %82 = dag.log_softmax "log_softmax"(%80) {dim = 1 : i64} : (tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %83 = dag.add "add_15"(%81, %82) : (tensor<1x6x3xf32>, tensor<1x6x3xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %84 = dag.mean "mean"(%83) {dims = array<i64: 1>, keepdim} : (tensor<1x6x3xf32>) -> tensor<1x1x3xf32>
// CHECK-NEXT: %85 = dag.sum "sum_1"(%83) {dims = array<i64: 2>, keepdim} : (tensor<1x6x3xf32>) -> tensor<1x6x1xf32>
// CHECK-NEXT: %86 = dag.add "add_16"(%84, %85) : (tensor<1x1x3xf32>, tensor<1x6x1xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %87 = dag.slice "getitem_2"(%83) {dim = 1 : i64, start = 0 : i64, end = 1 : i64, step = 1 : i64} : (tensor<1x6x3xf32>) -> tensor<1x1x3xf32>
// CHECK-NEXT: %88 = dag.slice "getitem_2.1"(%87) {dim = 2 : i64, start = 0 : i64, end = 1 : i64, step = 1 : i64} : (tensor<1x1x3xf32>) -> tensor<1x1x1xf32>
// CHECK-NEXT: %89 = dag.add "add_17"(%86, %88) : (tensor<1x6x3xf32>, tensor<1x1x1xf32>) -> tensor<1x6x3xf32>
// CHECK-NEXT: %90 = dag.select "select"(%89) {dim = 2 : i64, index = 0 : i64} : (tensor<1x6x3xf32>) -> tensor<1x6xf32>
// CHECK-NEXT: func.return %90, %17, %31 : tensor<1x6xf32>, tensor<1x4x1x1xf32>, tensor<1x6x6xf32>
// CHECK-NEXT: }
// CHECK-LABEL: func.func @opaque(%x: tensor<1x4xf32>, %w: tensor<4xf32>) -> (tensor<1x4xf32>, tensor<1x2xf32>) {
// CHECK-NEXT: %0, %1 = dag.opaque "act"(%x, %w) {class = "pkg.mod.MyActivation", state = ["scale"]} : (tensor<1x4xf32>, tensor<4xf32>) -> (tensor<1x4xf32>, tensor<1x2xf32>)
// CHECK-NEXT: func.return %0, %1 : tensor<1x4xf32>, tensor<1x2xf32>
// CHECK-NEXT: }
