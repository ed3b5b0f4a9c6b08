"""``dag-fuse`` (dag.fused regions) and ``dagc-linalg-fuse-elementwise``.

- every small example model gives the same outputs before and after ``dag-fuse``
  (reference executor), and the regions found are the expected ones;
- fused models compile for the CPU (one kernel per distinct region) and match
  torch; ``dagc.compile`` fuses by default and ``pipeline=""`` turns it off;
- a fused module exports to ONNX, outlines per kernel, partitions, and reports
  the same FLOPs and parameters;
- linalg elementwise fusion on hand-written generics (chains, transposed and
  broadcast maps, reductions, in-place epilogues) compiled to native code matches
  numpy, with and without the pass.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from xdsl.dialects.func import CallOp, FuncOp
from xdsl.dialects.linalg.ops import GenericOp

import dagc
from dagc.compiler.compile import CPU_STAGES, DEFAULT_PIPELINE, hoist_entry, lower
from dagc.dialects import dag
from dagc.examples.models import MyStrangeActivation, get_model
from dagc.passes.analysis import model_stats
from dagc.passes.fuse import ANCHORS, EPILOGUE_OPS, FusePass
from dagc.passes.outline import OutlineError, OutlinePass

SMALL = ["resnet18_small", "mobilenet_v2_small", "vit_tiny", "efficientnet_small",
         "unet_small", "strange_activation"]
OPAQUE = [MyStrangeActivation]

_CACHE: dict[str, tuple] = {}


def imported(name: str):
    """(model, inputs, Module with batch norms folded), built once per session;
    tests get a clone of the module."""
    if name not in _CACHE:
        model, inputs = get_model(name)
        m = dagc.run_pipeline(dagc.import_torch(model, inputs), "dag-fold-batchnorm")
        _CACHE[name] = (model, inputs, m)
    model, inputs, m = _CACHE[name]
    return model, inputs, m.clone()


def fused(m):
    out = dagc.run_pipeline(m, "dag-fuse")
    dagc.parse(out.to_text(elide_larger_than=16))  # prints and parses back
    return out


def regions(m) -> list[dag.FusedOp]:
    return [op for op in m.walk() if isinstance(op, dag.FusedOp)]


def body(region: dag.FusedOp) -> list[str]:
    return [op.name.removeprefix("dag.") for op in region.body.block.ops
            if not isinstance(op, dag.YieldOp)]


def run(m, *xs):
    with torch.no_grad():
        return dagc.to_torch(m, opaque=OPAQUE)(*xs)


# -- dag-fuse on the example models -------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_fuse_preserves_outputs(name):
    _, inputs, m = imported(name)
    after = fused(m)
    g = torch.Generator().manual_seed(0)
    for x in (inputs[0], torch.randn(inputs[0].shape, generator=g)):
        assert (run(m, x) - run(after, x)).abs().max().item() <= 1e-5
    found = regions(after)
    assert found
    top = [op for op in after.forward.body.block.ops if isinstance(op, dag.DagOp)]
    inner = sum(len(body(r)) for r in found)
    # every op moved into exactly one region; a region holds a chain of >= 2 ops
    assert len(top) == len([op for op in m.forward.body.block.ops
                            if isinstance(op, dag.DagOp)]) - inner + len(found)
    for r in found:
        ops = [op for op in r.body.block.ops if not isinstance(op, dag.YieldOp)]
        assert len(ops) >= 2
        assert isinstance(ops[0], (*ANCHORS, *EPILOGUE_OPS))
        assert all(isinstance(op, EPILOGUE_OPS) for op in ops[1:])
        assert r.label == "+".join(op.label for op in ops)


def test_resnet18_regions():
    _, _, m = imported("resnet18_small")
    found = regions(fused(m))
    kinds = sorted("+".join(body(r)) for r in found)
    # the stem and one per block: conv+relu; the tail of each block: conv+add+relu;
    # the three downsample convs and fc stay alone (their one user is taken)
    assert kinds == ["conv2d+add+relu"] * 8 + ["conv2d+relu"] * 9
    assert "layer1.0.conv2+add+layer1_0_relu_1" in {r.label for r in found}


def test_vit_regions_and_options():
    _, _, m = imported("vit_tiny")
    kinds = sorted("+".join(body(r)) for r in regions(fused(m)))
    assert kinds.count("linear+gelu") == 2 and kinds.count("linear+add") == 4
    assert "matmul+mul" in kinds
    only = dagc.run_pipeline(m, "dag-fuse{elementwise-only=true}")
    assert all(not isinstance(r.body.block.first_op, ANCHORS) for r in regions(only))
    none = dagc.run_pipeline(m, "dag-fuse{max-ops=1}")
    assert not regions(none)
    with pytest.raises(ValueError, match="max-ops"):
        FusePass(max_ops=-1).apply(m.ctx, m.op)


def test_fused_modules_train():
    _, inputs, m = imported("resnet18_small")
    net = dagc.to_torch(fused(m))
    net(inputs[0]).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


# -- compiling fused modules ----------------------------------------------------------


class Epilogues(nn.Module):
    """Every kind of epilogue and chain dag-fuse makes, on small shapes."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.down = nn.Conv2d(3, 8, 1, stride=1, bias=False)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 12)
        self.scale = nn.Parameter(torch.rand(8, 1, 1) + 0.5)

    def forward(self, x):
        y = F.relu6(self.bn(self.conv(x)))                     # conv + bias + bn + relu6
        y = F.relu(self.conv2(y) + self.down(x))               # residual add + relu
        y = y + F.hardswish(torch.sigmoid(y) * self.scale - 0.25)  # elementwise chain
        t = y.flatten(2).transpose(1, 2)                       # 1 x 64 x 8
        z = F.gelu(self.fc(t))                                 # linear + gelu
        a = torch.matmul(z, z.transpose(1, 2)) * 0.125         # matmul + scale + silu
        return F.silu(a).sum(-1)


def _epilogues():
    torch.manual_seed(0)
    model = Epilogues().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model, (torch.randn(1, 3, 8, 8),)


def _kernels(m) -> list[FuncOp]:
    hoisted, _, _ = hoist_entry(m)
    outlined, _ = lower(hoisted, ("dagc-outline-kernels",))
    return [f for f in outlined.op.body.ops if f.sym_name.data.startswith("k_")]


def _assert_matches(got, want):
    scale = max(1.0, float(want.abs().max()))
    assert float((torch.as_tensor(got) - want).abs().max()) <= 1e-4 * scale


def test_compile_fuses_by_default_and_matches_torch():
    model, inputs = _epilogues()
    with torch.no_grad():
        want = model(*inputs)
    compiled = dagc.compile(model, inputs)
    _assert_matches(compiled(*inputs), want)
    plain = dagc.compile(model, inputs, pipeline="")
    _assert_matches(plain(*inputs), want)
    assert compiled.kernels < plain.kernels
    m = dagc.import_torch(model, inputs)
    names = {f.sym_name.data.rsplit("_", 1)[0]
             for f in _kernels(dagc.run_pipeline(m, DEFAULT_PIPELINE))}
    assert {"k_conv2d_relu6", "k_conv2d_add_relu", "k_sigmoid_mul_sub_hardswish_add",
            "k_linear_gelu", "k_matmul_mul_silu", "k_conv2d"} <= names
    # the artifact keeps the imported module (no fused op), the reference it runs
    assert not regions(compiled.dag)


def test_one_kernel_per_distinct_region():
    _, _, m = imported("resnet18_small")
    after = fused(m)
    kernels = _kernels(after)
    assert len(kernels) < len(_kernels(m))
    hoisted, _, _ = hoist_entry(after)
    outlined, _ = lower(hoisted, ("dagc-outline-kernels",))
    calls = [op for op in outlined.forward.body.block.ops if isinstance(op, CallOp)]
    labels = [c.attributes["dagc.op"].data for c in calls]
    assert sorted(r.label for r in regions(after)) == sorted(x for x in labels if "+" in x)
    conv_relu = [f for f in kernels if f.sym_name.data.startswith("k_conv2d_add_relu_")]
    # the residual tails: one kernel per (channels, size); stride-1 blocks share
    assert len(conv_relu) == 4


# -- the other paths a fused module takes ------------------------------------------


def test_onnx_export_inlines_regions():
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from dagc.compiler.onnx_exporter import export_onnx

    _, inputs, m = imported("efficientnet_small")
    after = fused(m)
    proto = export_onnx(after)
    assert "features.1.0.block.1.fc2" in {n.name for n in proto.graph.node}
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: inputs[0].numpy()})
    np.testing.assert_allclose(got, run(m, inputs[0]).numpy(), rtol=1e-4, atol=1e-5)


def test_partition_outline_and_stats_see_one_op():
    from dagc.passes.partition_devices import alloc_template, partition

    _, inputs, m = imported("resnet18_small")
    after = fused(m)
    alloc = alloc_template(after)
    assert "layer1.0.conv1+layer1.0.relu" in alloc and "layer1.0.conv1" not in alloc
    alloc["layer1.0.conv1+layer1.0.relu"] = "X64:1"
    parted, report = partition(after, alloc)
    assert len(report.subgraphs) == 3
    assert (run(parted, inputs[0]) - run(m, inputs[0])).abs().max().item() <= 1e-5
    with pytest.raises(OutlineError, match="inside dag.fused"):
        OutlinePass(ops=("layer1.0.conv1",)).apply(after.ctx, after.op)
    before, now = model_stats(m), model_stats(after)
    assert (now.flops, now.macs, now.params) == (before.flops, before.macs, before.params)
    assert not now.notes


# -- dagc-linalg-fuse-elementwise: numerics ---------------------------------------

_ID2 = "affine_map<(d0, d1) -> (d0, d1)>"
_PAR2 = '["parallel", "parallel"]'


def _generic(result, ins, in_types, maps, out_type, out, args, ops, iterators=_PAR2):
    """One ``linalg.generic`` line block (``ops`` is its body, yielding ``%v``)."""
    return (f"  {result} = linalg.generic {{indexing_maps = [{', '.join(maps)}], "
            f"iterator_types = {iterators}}} ins({ins} : {in_types}) "
            f"outs({out} : {out_type}) {{\n  ^bb0({args}):\n{ops}\n"
            f"    linalg.yield %v : f32\n  }} -> {out_type}\n")


CASES = {
    # relu(x) + x, times a per-column scale: one generic with inputs x, s
    "chain": (
        "(%x: tensor<5x7xf32>, %s: tensor<7xf32>) -> tensor<5x7xf32>",
        "  %e = tensor.empty() : tensor<5x7xf32>\n"
        + _generic("%r", "%x", "tensor<5x7xf32>", [_ID2, _ID2], "tensor<5x7xf32>", "%e",
                   "%a: f32, %o: f32",
                   "    %z = arith.constant 0.0 : f32\n    %v = arith.maximumf %a, %z : f32")
        + _generic("%t", "%r, %x", "tensor<5x7xf32>, tensor<5x7xf32>", [_ID2, _ID2, _ID2],
                   "tensor<5x7xf32>", "%e", "%a: f32, %b: f32, %o: f32",
                   "    %v = arith.addf %a, %b : f32")
        + _generic("%p", "%t, %s", "tensor<5x7xf32>, tensor<7xf32>",
                   [_ID2, "affine_map<(d0, d1) -> (d1)>", _ID2], "tensor<5x7xf32>", "%e",
                   "%a: f32, %b: f32, %o: f32", "    %v = arith.mulf %a, %b : f32")
        + "  func.return %p : tensor<5x7xf32>",
        [(5, 7), (7,)],
        lambda x, s: (np.maximum(x, 0) + x) * s,
        1,
    ),
    # a transposed producer (with linalg.index) feeding a transposing consumer
    "transposed": (
        "(%x: tensor<5x7xf32>) -> tensor<5x7xf32>",
        "  %e = tensor.empty() : tensor<7x5xf32>\n  %f = tensor.empty() : tensor<5x7xf32>\n"
        + _generic("%t", "%x", "tensor<5x7xf32>", ["affine_map<(d0, d1) -> (d1, d0)>", _ID2],
                   "tensor<7x5xf32>", "%e", "%a: f32, %o: f32",
                   "    %i = linalg.index 0 : index\n"
                   "    %w = arith.index_cast %i : index to i64\n"
                   "    %c = arith.sitofp %w : i64 to f32\n    %v = arith.addf %a, %c : f32")
        + _generic("%n", "%t", "tensor<7x5xf32>", ["affine_map<(d0, d1) -> (d1, d0)>", _ID2],
                   "tensor<5x7xf32>", "%f", "%a: f32, %o: f32", "    %v = arith.negf %a : f32")
        + "  func.return %n : tensor<5x7xf32>",
        [(5, 7)],
        lambda x: -(x + np.arange(7, dtype=np.float32)[None, :]),
        1,
    ),
    # exp fused into a row sum; the square reads its producer twice
    "reduction": (
        "(%x: tensor<5x7xf32>) -> (tensor<5xf32>, tensor<5x7xf32>)",
        "  %e = tensor.empty() : tensor<5x7xf32>\n  %z = arith.constant 0.0 : f32\n"
        "  %r0 = tensor.empty() : tensor<5xf32>\n"
        "  %acc = linalg.fill ins(%z : f32) outs(%r0 : tensor<5xf32>) -> tensor<5xf32>\n"
        + _generic("%ex", "%x", "tensor<5x7xf32>", [_ID2, _ID2], "tensor<5x7xf32>", "%e",
                   "%a: f32, %o: f32", "    %v = math.exp %a : f32")
        + _generic("%s", "%ex", "tensor<5x7xf32>", [_ID2, "affine_map<(d0, d1) -> (d0)>"],
                   "tensor<5xf32>", "%acc", "%a: f32, %o: f32", "    %v = arith.addf %a, %o : f32",
                   '["parallel", "reduction"]')
        + _generic("%n", "%x", "tensor<5x7xf32>", [_ID2, _ID2], "tensor<5x7xf32>", "%e",
                   "%a: f32, %o: f32", "    %v = arith.negf %a : f32")
        + _generic("%q", "%n, %n", "tensor<5x7xf32>, tensor<5x7xf32>", [_ID2, _ID2, _ID2],
                   "tensor<5x7xf32>", "%e", "%a: f32, %b: f32, %o: f32",
                   "    %v = arith.mulf %a, %b : f32")
        + "  func.return %s, %q : tensor<5xf32>, tensor<5x7xf32>",
        [(5, 7)],
        lambda x: (np.exp(x).sum(1), x * x),
        2,
    ),
    # a matmul epilogue (bias + relu) that writes over the matmul's result
    "epilogue": (
        "(%a: tensor<6x9xf32>, %b: tensor<9x20xf32>, %c: tensor<20xf32>) -> tensor<6x20xf32>",
        "  %z = arith.constant 0.0 : f32\n  %e = tensor.empty() : tensor<6x20xf32>\n"
        "  %f = linalg.fill ins(%z : f32) outs(%e : tensor<6x20xf32>) -> tensor<6x20xf32>\n"
        "  %m = linalg.matmul ins(%a, %b : tensor<6x9xf32>, tensor<9x20xf32>) "
        "outs(%f : tensor<6x20xf32>) -> tensor<6x20xf32>\n"
        + _generic("%t", "%m, %c", "tensor<6x20xf32>, tensor<20xf32>",
                   [_ID2, "affine_map<(d0, d1) -> (d1)>", _ID2], "tensor<6x20xf32>", "%e",
                   "%x: f32, %y: f32, %o: f32", "    %v = arith.addf %x, %y : f32")
        + _generic("%r", "%t", "tensor<6x20xf32>", [_ID2, _ID2], "tensor<6x20xf32>", "%e",
                   "%x: f32, %o: f32", "    %v = arith.maximumf %x, %z : f32")
        + "  func.return %r : tensor<6x20xf32>",
        [(6, 9), (9, 20), (20,)],
        lambda a, b, c: np.maximum(a @ b + c, 0),
        1,
    ),
}


def _compile_linalg(text: str, fuse: bool):
    """Lower a linalg-on-tensors ``@forward`` through the CPU stages that follow
    convert-dag-to-linalg (without dagc-linalg-fuse-elementwise unless ``fuse``);
    return (the IR after that stage, a callable taking inputs then outputs)."""
    from dagc.lowering.entry_workspace import workspace_bytes
    from dagc.lowering.llvm_to_llvmir import translate_to_llvmir
    from dagc.runtime.cpu import ArgSpec, CpuModule

    m = dagc.parse(text)
    ftype = m.forward.function_type
    stages = CPU_STAGES[CPU_STAGES.index("convert-dag-to-linalg") + 1:]
    stages = tuple(s for s in stages if fuse or s != "dagc-linalg-fuse-elementwise")
    first, _ = lower(m, stages[:1])
    split = stages.index("dagc-entry-workspace") + 1
    planned, _ = lower(m, stages[:split])
    workspace = workspace_bytes(planned.forward)  # the intermediates' arena
    lowered, _ = lower(planned, stages[split:])
    cpu = CpuModule(translate_to_llvmir(lowered.op, lowered.ctx))
    specs = [ArgSpec.array(t.get_shape(), "float32")
             for t in (*ftype.inputs.data, *ftype.outputs.data)]
    if not workspace:
        return first, cpu.get_function("forward", specs)
    fn = cpu.get_function("forward", [*specs, ArgSpec.array((workspace,), "uint8")])
    return first, lambda *arrays: fn(*arrays, np.empty(workspace, np.uint8))


@pytest.mark.parametrize("case", sorted(CASES))
def test_linalg_fusion_numerics(case):
    signature, text, shapes, reference, generics = CASES[case]
    text = f"func.func @forward{signature} {{\n{text}\n}}"
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    want = reference(*xs)
    want = list(want) if isinstance(want, tuple) else [want]
    for fuse in (True, False):
        ir, fn = _compile_linalg(text, fuse)
        count = sum(isinstance(op, GenericOp) for op in ir.walk())
        if fuse:
            assert count == generics, ir.to_text()
        else:
            assert count > generics
        outs = [np.zeros(w.shape, np.float32) for w in want]
        fn(*xs, *outs)
        for got, w in zip(outs, want):
            np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)
