"""``compile_vulkan``: a dag module to SPIR-V compute kernels run through Vulkan.

The Vulkan pipeline shares its front with the CPU one (``compiler/compile.py``)::

    dagc-hoist-weights                    weights become arguments
    dagc-outline-kernels                  one kernel function per distinct op signature
    convert-dag-to-linalg                 dag -> linalg on tensors
    dagc-linalg-fuse-elementwise          elementwise chains -> one generic
    dagc-bufferize                        tensors -> memrefs, results -> out-parameters
    dagc-linalg-generalize                named linalg ops -> linalg.generic
    dagc-linalg-to-loops{parallel=true}   one scf.parallel (+ scf.for reductions) per op
    convert-loops-to-gpu{inline_calls=true wrap_scalar_code=true}
                                          inline the kernel calls, fold views, one
                                          gpu.func per loop nest (deduplicated)
    convert-gpu-to-spirv                  one spirv.module per gpu.func

then ``build_dispatch_table`` (lowering/gpu_to_spirv.py) turns ``@forward`` into
a :class:`DispatchTable`: its buffers (inputs, weights, out-parameters,
temporaries, constants) and its dispatches in order, each with its SPIR-V
binary. :class:`dagc.runtime.vulkan.VulkanRuntime` runs the table (on lavapipe,
Mesa's CPU driver, when there is no GPU).

Calling convention of the table: buffer arguments are the model inputs, then the
weights (by resource handle, as ``Signature.weights``), then one out-parameter
per model output; ``DispatchTable.results`` are the out-parameters.

``compile_vulkan_subgraph`` compiles one subgraph (what ``dagc.compile`` calls
for devices with the ``spirv`` backend) into a :class:`VulkanExecutable`, whose
``save(folder)`` writes ``dispatch.json``, one ``.spv`` per kernel and one
``.npy`` per constant buffer, and ``load`` reads them back (artifact kind
``"spirv-dispatch"``). ``compile_vulkan`` compiles a whole module to one such
subgraph and returns a ``CompiledModel``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dagc.compiler.compile import CompileError, StageReport, hoist_entry, lower
from dagc.ir import Module
from dagc.lowering.gpu_to_spirv import DispatchTable
from dagc.runtime.executor import TensorSpec, check_weights, weight_entries
from dagc.runtime.vulkan import VulkanProgram

VULKAN_STAGES: tuple[str, ...] = (
    # The CPU pipeline's front, without its CPU-only micro-kernels.
    "dagc-hoist-weights",
    "dagc-outline-kernels",
    "convert-dag-to-linalg",
    "dagc-linalg-fuse-elementwise",
    "dagc-bufferize",
    "dagc-linalg-generalize",
    "dagc-linalg-to-loops{parallel=true}",
    "convert-loops-to-gpu{inline_calls=true wrap_scalar_code=true}",
    "convert-gpu-to-spirv",
)
"""The dag -> SPIR-V pipeline, in order (``build_dispatch_table`` follows)."""

KIND = "spirv-dispatch"
"""``model.meta`` subgraph kind of a Vulkan dispatch table."""

_RUNTIMES: dict[str | None, Any] = {}


def shared_runtime(device: str | None = None):
    """One :class:`VulkanRuntime` per device name for the process (opening a
    Vulkan device costs ~0.1 s; its compiled pipelines are cached in it).

    Raises:
        dagc.runtime.vulkan.VulkanError: no usable Vulkan device.
    """
    from dagc.runtime.vulkan import VulkanRuntime

    if device not in _RUNTIMES:
        _RUNTIMES[device] = VulkanRuntime(device)
    return _RUNTIMES[device]


@dataclass
class VulkanExecutable:
    """A subgraph compiled to a dispatch table (the ``Executable`` protocol of
    :mod:`dagc.runtime.executor`).

    ``run`` binds the inputs, then the weights (``weight_handles`` order), then
    one zeroed out-parameter per output, runs the table on the Vulkan device
    (``device``: name substring, None for the best one) and returns the outputs.
    """

    table: DispatchTable
    inputs: list[TensorSpec]
    weight_handles: list[str]
    weight_arrays: dict[str, np.ndarray] = field(repr=False)
    outputs: list[TensorSpec]
    device: str | None = None
    kind: str = KIND
    _program: VulkanProgram | None = field(default=None, init=False, repr=False,
                                           compare=False)

    @property
    def kernels(self) -> int:
        """Distinct SPIR-V kernels."""
        return len({k.spirv for k in self.table.kernels})

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Raises ValueError on wrong inputs, VulkanError without a device.

        The first call makes the table resident on the device (weights uploaded
        once, commands recorded once: :class:`dagc.runtime.vulkan.VulkanProgram`);
        later calls move only the inputs and outputs.
        """
        if self._program is None:
            self._program = self.prepare()
            weakref.finalize(self, self._program.release)
        return self._call(self._program, inputs)

    def prepare(self, timestamps: bool = False) -> VulkanProgram:
        """The table made resident on the device with the weights uploaded
        (arguments after the inputs). Raises VulkanError without a device."""
        n = len(self.inputs)
        weights = {n + k: self.weight_arrays[h] for k, h in enumerate(self.weight_handles)}
        return shared_runtime(self.device).prepare(self.table, weights, timestamps)

    def _call(self, program: VulkanProgram, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != len(self.inputs):
            raise ValueError(f"expected {len(self.inputs)} inputs, got {len(inputs)}")
        outs = [np.zeros(o.shape, dtype=o.dtype) for o in self.outputs]
        results = program([*inputs, *outs])
        return [r.astype(o.dtype, copy=False) for r, o in zip(results, self.outputs)]

    def profile(self, inputs: Sequence[np.ndarray], runs: int = 10) -> list[tuple[str, float]]:
        """(kernel name, median seconds on the device) per dispatch, in order,
        over ``runs`` calls after one warm-up, from Vulkan timestamp queries
        (a dispatch's time includes the barrier before it).

        Raises ValueError on wrong inputs, VulkanError without a device.
        """
        program = self.prepare(timestamps=True)
        try:
            self._call(program, inputs)
            samples = []
            for _ in range(max(runs, 1)):
                self._call(program, inputs)
                samples.append(program.kernel_seconds())
        finally:
            program.release()
        medians = np.median(np.array(samples), axis=0)
        return [(k.name, float(t)) for k, t in zip(self.table.kernels, medians)]

    def weights(self) -> dict[str, np.ndarray]:
        return dict(self.weight_arrays)

    def save(self, folder: Path) -> dict:
        """Write ``dispatch.json``, the ``.spv`` kernels and ``.npy`` constants into
        ``folder``; return the subgraph's ``model.meta`` entry (with ``files``)."""
        folder = Path(folder)
        self.table.save(folder)
        files = ["dispatch.json", *sorted({f"{k.name}.spv" for k in self.table.kernels}),
                 *sorted(f"{b.constant}.npy" for b in self.table.buffers if b.constant)]
        return {
            "kind": self.kind,
            "files": files,
            "dispatch": "dispatch.json",
            "convention": "buffers: inputs, weights, outputs",
            "inputs": [s.to_json() for s in self.inputs],
            "outputs": [s.to_json() for s in self.outputs],
            "weights": weight_entries(self.weight_handles, self.weight_arrays),
        }

    @staticmethod
    def load(folder: Path, meta: dict, weights: Mapping[str, np.ndarray]) -> VulkanExecutable:
        """Read what :meth:`save` wrote (JSON, SPIR-V, ``.npy`` without pickle).

        Raises:
            LookupError: a weight is missing or has another shape or dtype.
            ValueError: unknown dispatch-table format.
        """
        check_weights(meta["weights"], weights)
        table = DispatchTable.load(folder)
        handles = [w["name"] for w in meta["weights"]]
        return VulkanExecutable(table, [TensorSpec.from_json(s) for s in meta["inputs"]],
                                handles, {h: weights[h] for h in handles},
                                [TensorSpec.from_json(s) for s in meta["outputs"]])


def compile_vulkan_subgraph(
    module: Module,
    progress: Callable[[str], None] | None = None,
    workgroup_size: int = 64,
    spirv_version: str = "1.3",
    device: str | None = None,
) -> tuple[VulkanExecutable, list[StageReport], int]:
    """Compile a dag module's ``@forward`` (static shapes; f32, i32 or bool
    tensors) to SPIR-V kernels and a dispatch table.

    Args:
        module: the subgraph; not modified.
        progress: called with each stage's name as it starts.
        workgroup_size: invocations per workgroup (``convert-loops-to-gpu``).
        spirv_version: "1.3" (Vulkan 1.1) to "1.6".
        device: Vulkan device name substring to run on (None: the best one).

    Returns:
        ``(executable, stage reports, number of distinct kernels)``. Nothing
        touches a Vulkan device until the executable runs.

    Raises:
        CompileError: a stage failed (the message names it and gives the
            reproducer), including ``build-dispatch-table`` for host code that a
            dispatch table cannot express.
    """
    from dagc.lowering.gpu_to_spirv import build_dispatch_table

    stages = list(VULKAN_STAGES)
    if workgroup_size != 64:
        stages[-2] = stages[-2].replace("}", f" workgroup_size={workgroup_size}}}")
    if spirv_version != "1.3":
        stages[-1] += f'{{spirv_version="{spirv_version}"}}'
    hoisted, reports, entry = hoist_entry(module, stages[:1], progress)
    inputs, order, weights, outputs = entry.inputs, entry.weights, entry.arrays, entry.outputs
    lowered, rest = lower(hoisted, stages[1:], progress)
    reports += rest
    if progress:
        progress("build-dispatch-table")
    start = time.perf_counter()
    try:
        table = build_dispatch_table(lowered.op, lowered.forward.sym_name.data)
    except Exception as e:  # noqa: BLE001 - reported like every stage failure
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CompileError("build-dispatch-table", message, None, "") from e
    first_output = len(inputs) + len(order)
    table = replace(table, results=tuple(
        i for i, b in enumerate(table.buffers)
        if b.argument is not None and b.argument >= first_output))
    reports.append(StageReport("build-dispatch-table", time.perf_counter() - start,
                               len(table.kernels)))
    executable = VulkanExecutable(table, inputs, order, weights, outputs, device)
    return executable, reports, executable.kernels


def compile_vulkan(
    dag_module: Module,
    progress: Callable[[str], None] | None = None,
    workgroup_size: int = 64,
    spirv_version: str = "1.3",
    device: str | None = None,
):
    """Compile a whole dag :class:`Module` for Vulkan: ``dagc.compile(target=
    "vulkan")`` with the SPIR-V options spelled out. Opaque ops still go to HOST.

    Returns a :class:`dagc.compiler.compile.CompiledModel` (callable like the
    model; ``save(dir)``, ``stages``, ``kernels``; for a model without opaque ops
    ``program.subgraphs[0].executable`` is the :class:`VulkanExecutable`).
    Arguments and errors: see :func:`compile_vulkan_subgraph`.
    """
    from dagc.compiler.compile import compile

    return compile(dag_module, target="vulkan", progress=progress,
                   spirv_options={"workgroup_size": workgroup_size,
                                  "spirv_version": spirv_version, "device": device})
