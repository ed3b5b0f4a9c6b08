"""dagc-plan-memory: greedy-by-size offsets, the arena rewrite on real models, and
compiled numerics with the memory report."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch
from xdsl.dialects import arith, memref
from xdsl.dialects.func import FuncOp

import dagc
from dagc.compiler.compile import CPU_STAGES, lower
from dagc.examples.models import get_model
from dagc.lowering.plan_memory import PlanMemoryPass, plan_offsets, planned_bytes


def check_plan(intervals, sizes, offsets, arena, alignment):
    """Brute force: every pair of buffers live at the same time occupies disjoint
    bytes; offsets are aligned; the arena holds every buffer, is at least the peak
    of the bytes live at once and at most the sum of the aligned sizes."""
    padded = [-(-s // alignment) * alignment for s in sizes]
    for i in range(len(sizes)):
        assert offsets[i] % alignment == 0 and 0 <= offsets[i]
        assert offsets[i] + sizes[i] <= arena
        for j in range(i):
            (a, b), (c, d) = intervals[i], intervals[j]
            live_together = a <= d and c <= b
            disjoint = (offsets[i] + sizes[i] <= offsets[j]
                        or offsets[j] + sizes[j] <= offsets[i])
            assert not live_together or disjoint or 0 in (sizes[i], sizes[j]), (i, j)
    times = {t for interval in intervals for t in interval}
    peak = max((sum(p for p, (a, b) in zip(padded, intervals) if a <= t <= b) for t in times),
               default=0)
    assert peak <= arena <= sum(padded)


def test_greedy_by_size_takes_the_smallest_gap_that_fits():
    # Units of 64 bytes. Placed largest first: #3 at 0 (4 units), #2 at 4 (4), #1 at
    # 8 (3), #4 at 11 (3). #0 is live with #2 and #4 only, so the gaps [0, 4) and
    # [8, 11) are free for it: best fit takes the smaller one, at 8, not offset 0.
    intervals = [(4, 5), (3, 3), (2, 4), (0, 3), (3, 6)]
    sizes = [64, 192, 256, 256, 192]
    offsets, arena = plan_offsets(intervals, sizes, 64)
    assert offsets == [512, 512, 256, 0, 704] and arena == 896
    check_plan(intervals, sizes, offsets, arena, 64)


def test_disjoint_lifetimes_share_memory():
    offsets, arena = plan_offsets([(0, 1), (2, 3), (1, 2)], [100, 100, 100], 64)
    assert offsets == [0, 0, 128] and arena == 256


@pytest.mark.parametrize("alignment", [1, 64])
def test_random_interval_sets_never_overlap(alignment):
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(0, 25)
        intervals = []
        for _ in range(n):
            first = rng.randint(0, 40)
            intervals.append((first, first + rng.randint(0, 12)))
        sizes = [rng.choice([0, 1, 4, 63, 64, 65, 1000, 4096]) * rng.randint(1, 3)
                 for _ in range(n)]
        offsets, arena = plan_offsets(intervals, sizes, alignment)
        check_plan(intervals, sizes, offsets, arena, alignment)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="intervals for"):
        plan_offsets([(0, 1)], [4, 4])
    with pytest.raises(ValueError, match="first <= last"):
        plan_offsets([(2, 1)], [4])
    with pytest.raises(ValueError, match="alignment"):
        plan_offsets([(0, 1)], [4], 0)


VIEW_LIKE = (memref.SubviewOp, memref.ExpandShapeOp, memref.CollapseShapeOp, memref.CastOp)


def _live_intervals(func: FuncOp):
    """Allocs of the entry block freed in it, with [alloc, last use] positions found
    independently of the pass: the last op of the block that uses the buffer or a
    view of it."""
    block = func.body.blocks[0]
    position = {op: i for i, op in enumerate(block.ops)}
    found = []
    for op in block.ops:
        if not isinstance(op, memref.AllocOp):
            continue
        last, values = position[op], [op.memref]
        freed = False
        while values:
            for use in values.pop().uses:
                user = block.find_ancestor_op_in_block(use.operation)
                last = max(last, position[user])
                freed |= isinstance(use.operation, memref.DeallocOp)
                if isinstance(use.operation, VIEW_LIKE):
                    values.append(use.operation.results[0])
        if freed:
            found.append((op, (position[op], last)))
    return found


def _arena_views(func: FuncOp):
    """(byte offset, byte size) of each memref.view of the arena (the block's
    first op), in order: not the views of a buffer in it (the kernels' scratch)."""
    views = []
    block = func.body.blocks[0]
    for op in block.ops:
        if isinstance(op, memref.ViewOp) and op.source.owner is block.first_op:
            shift = op.byte_shift.owner
            assert isinstance(shift, arith.ConstantOp)
            t = op.result.type
            views.append((shift.value.value.data,
                          t.element_count() * t.element_type.bitwidth // 8))
    return views


def test_resnet18_small_buffers_are_planned_without_overlap():
    model, inputs = get_model("resnet18_small")
    stop = CPU_STAGES.index("dagc-plan-memory")
    bufferized, _ = lower(dagc.import_torch(model, inputs), CPU_STAGES[:stop])
    planned = bufferized.clone()
    PlanMemoryPass().apply(planned.ctx, planned.op)
    before = {f.sym_name.data: f for f in bufferized.op.body.ops if isinstance(f, FuncOp)}
    checked = []
    for func in planned.op.body.ops:
        if not isinstance(func, FuncOp) or not (views := _arena_views(func)):
            continue
        buffers = _live_intervals(before[func.sym_name.data])
        assert len(views) == len(buffers)
        intervals = [interval for _, interval in buffers]
        offsets = [offset for offset, _ in views]
        sizes = [size for _, size in views]
        arena, unplanned = planned_bytes(func)
        check_plan(intervals, sizes, offsets, arena, 64)
        arena_op = func.body.blocks[0].first_op
        assert isinstance(arena_op, memref.AllocOp)
        assert arena_op.memref.type.get_shape() == (arena,)
        assert arena <= unplanned == sum(-(-s // 64) * 64 for s in sizes)
        assert not any(isinstance(op, memref.DeallocOp) and op.memref is not arena_op.memref
                       for op in func.body.blocks[0].ops)
        checked.append(func.sym_name.data)
        if func.sym_name.data == "forward":
            # 68 activations of ResNet-18 share a few buffers' worth of memory;
            # the kernels' scratch buffer (dagc-hoist-kernel-scratch) is live
            # throughout, beside them.
            (scratch,) = [op.result.type.get_shape()[0] for op in func.body.blocks[0].ops
                          if isinstance(op, memref.ViewOp) and op.result.name_hint == "scratch"]
            assert len(views) > 60 and (arena - scratch) * 4 < unplanned - scratch
    # Only the entry has an arena: the kernels' scratch (the max-pool's padded
    # input and window, the packed panels) was hoisted into it.
    assert checked == ["forward"]
    for func in planned.op.body.ops:
        if isinstance(func, FuncOp) and func.sym_name.data != "forward" and func.body.blocks:
            assert not any(isinstance(op, memref.AllocOp) for op in func.body.blocks[0].ops)


class Branchy(torch.nn.Module):
    """Branches, a residual, a concat and two outputs: buffers with overlapping and
    disjoint lifetimes of several sizes."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.a = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.b = torch.nn.Conv2d(8, 4, 1)
        self.head = torch.nn.Linear(12 * 4 * 4, 5)

    def forward(self, x):
        s = torch.relu(self.stem(x))
        a = torch.relu(self.a(s)) + s
        b = torch.sigmoid(self.b(s))
        y = torch.nn.functional.max_pool2d(torch.cat([a, b], 1), 2)
        return self.head(y.flatten(1)), b * 2


def test_compiled_model_matches_torch_and_reports_memory(capsys):
    from dagc.compiler.report import compile_report

    torch.manual_seed(0)
    model = Branchy().eval()
    x = torch.randn(1, 3, 8, 8)
    compiled = dagc.compile(model, (x,))
    for inputs in ((x,), (torch.randn(1, 3, 8, 8),)):
        with torch.no_grad():
            want = model(*inputs)
        got = compiled(*inputs)
        for g, w in zip(got, want):
            assert float((g - w).abs().max()) <= 1e-4 * max(1.0, float(w.abs().max()))
    memory = compiled.memory
    assert 0 < memory.arena_bytes < memory.unplanned_bytes
    assert memory.weight_bytes == 4 * sum(p.numel() for p in model.parameters())
    assert memory.input_bytes == 4 * 3 * 8 * 8
    assert memory.output_bytes == 4 * (5 + 4 * 8 * 8)
    compile_report(compiled, 0.0, 1.0, 1e-3, "build")
    out = capsys.readouterr().out
    assert "intermediates (one arena)" in out and "planned peak" in out


def test_entry_arena_is_a_workspace_allocated_once(tmp_path):
    """dagc-entry-workspace: the entry's arena is an argument the executable
    allocates at its first call and passes to every call (no allocation, so no
    fresh pages, per call); calls on eight threads at once, and a saved and
    reloaded artifact, still match torch."""
    import threading

    from dagc.runtime.executor import WORKSPACE_ALIGNMENT, CpuExecutable

    torch.manual_seed(0)
    model = Branchy().eval()
    x = torch.randn(1, 3, 8, 8)
    compiled = dagc.compile(model, (x,))
    (executable,) = [sg.executable for sg in compiled.program.subgraphs
                     if isinstance(sg.executable, CpuExecutable)]
    assert executable.workspace_bytes == compiled.memory.arena_bytes > 0
    compiled(x)
    first, at = executable._workspace
    assert first.nbytes == executable.workspace_bytes
    assert at == first.ctypes.data and at % WORKSPACE_ALIGNMENT == 0
    compiled(torch.randn(1, 3, 8, 8))
    assert executable._workspace[0] is first

    inputs = [torch.randn(1, 3, 8, 8) for _ in range(8)]
    with torch.no_grad():
        want = [model(i) for i in inputs]
    got: dict[int, tuple] = {}

    def call(k: int) -> None:
        for _ in range(5):
            got[k] = compiled(inputs[k])

    threads = [threading.Thread(target=call, args=(k,)) for k in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, w in enumerate(want):
        for g, v in zip(got[k], w):
            torch.testing.assert_close(torch.as_tensor(g), v, rtol=1e-4, atol=1e-4)

    loaded = dagc.runtime.load(compiled.save(tmp_path / "artifact"))
    for g, w in zip(loaded(x), model(x)):
        torch.testing.assert_close(torch.as_tensor(g), w.detach(), rtol=1e-4, atol=1e-4)


class _MatMul(torch.nn.Module):
    def forward(self, a, b):
        return a @ b


def test_kernel_scratch_lives_in_the_workspace():
    """The GEMM's packed panels of B (256 x 256 floats) are hoisted out of the
    kernel into the entry's workspace, allocated once: no call allocates."""
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    compiled = dagc.compile(_MatMul(), (a, b))
    (subgraph,) = compiled.program.subgraphs
    executable = subgraph.executable
    assert executable.workspace_bytes >= 256 * 256 * 4
    assert not re.search(r"call .*@aligned_alloc\(", executable.llvm_ir)
    for _ in range(2):  # the workspace is reused by the second call
        np.testing.assert_allclose(compiled(a.numpy(), b.numpy()), (a @ b).numpy(),
                                   rtol=1e-4, atol=1e-4)
