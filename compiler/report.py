"""Progress display and report tables for the command line (rich)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


@contextlib.contextmanager
def progress() -> Iterator[Callable[[str], None]]:
    """A status line showing the running stage and the elapsed time; yields the
    callback that announces each new stage."""
    start = time.perf_counter()
    with console.status("starting") as status:
        def step(name: str) -> None:
            status.update(f"[bold]{name}[/bold]  ({time.perf_counter() - start:.1f}s)")
            if not console.is_terminal:
                print(f"[{time.perf_counter() - start:6.1f}s] {name}", file=sys.stderr)

        yield step


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:.2f} MiB"


def compile_report(compiled, max_abs_err: float, scale: float, latency_s: float, out) -> None:
    """Print the compile report: stages with their time and op counts (the stages
    run on several processes sum their times, so the wall-time total is less than
    the column's sum), kernels,
    memory (planned arena, weights, inputs and outputs), accuracy against torch,
    latency, and where the artifact is."""
    table = Table(title="dagc compile")
    table.add_column("stage")
    table.add_column("time (s)", justify="right")
    table.add_column("ops after", justify="right")
    for s in compiled.stages:
        table.add_row(s.name, f"{s.seconds:.2f}", str(s.ops) if s.ops else "")
    table.add_row("total (wall)", f"{compiled.seconds:.2f}", "", style="bold")
    Console().print(table)
    summary = Table(show_header=False)
    summary.add_row("dag ops", str(sum(1 for op in compiled.dag.walk() if op.name.startswith("dag.")
                                       and op.name != "dag.constant")))
    summary.add_row("kernels (distinct signatures)", str(compiled.kernels))
    subgraphs = compiled.program.subgraphs
    summary.add_row("subgraphs", ", ".join(f"{sg.name} on {sg.device}" for sg in subgraphs))
    transfers = sum(1 for s in compiled.program.steps if s.op == "transfer")
    if transfers:
        summary.add_row("transfers", str(transfers))
    memory = compiled.memory
    if memory is not None:
        saved = 1 - memory.arena_bytes / memory.unplanned_bytes if memory.unplanned_bytes else 0
        summary.add_row("intermediates (one arena)",
                        f"{_mib(memory.arena_bytes)} planned peak; {_mib(memory.unplanned_bytes)} "
                        f"as separate buffers ({saved:.0%} saved)")
        if memory.kernel_arena_bytes:
            summary.add_row("kernel scratch (largest arena)", _mib(memory.kernel_arena_bytes))
        summary.add_row("weights", _mib(memory.weight_bytes))
        summary.add_row("inputs / outputs",
                        f"{_mib(memory.input_bytes)} / {_mib(memory.output_bytes)}")
    summary.add_row("max abs error vs torch", f"{max_abs_err:.3g} (output scale {scale:.3g})")
    summary.add_row("relative error", f"{max_abs_err / max(scale, 1.0):.2g} (policy: <= 1e-4)")
    summary.add_row("latency (median)", f"{latency_s * 1e3:.2f} ms")
    summary.add_row("artifact", str(out))
    Console().print(summary)
