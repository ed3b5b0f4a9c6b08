"""The one place where dagc's dialects and passes are registered.

Every dialect and pass is named here with a lazy loader, so that `dag-opt`,
`dagc.run_pipeline` and xDSL's own `xdsl-opt` (through the ``xdsl.universe``
entry point in pyproject.toml) see the same set. Passes from other packages are
found through the same ``xdsl.universe`` entry-point group (see
docs/writing-a-pass.md), so nobody forks dagc to add a pass.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from xdsl.ir import Dialect
from xdsl.passes import ModulePass
from xdsl.universe import Universe


def _lazy(path: str) -> Callable[[], object]:
    """Return a loader for ``"module.path:Attr"`` that imports on first call."""
    module_name, attr = path.split(":")

    def load():
        return getattr(importlib.import_module(module_name), attr)

    return load


# Dialect name -> "module:Dialect object".
_DIALECTS: dict[str, str] = {
    "dag": "dagc.dialects.dag:Dag",
    # -- device dialect --
    "device": "dagc.dialects.device:Device",
    # -- spirv dialect --
    "spirv": "dagc.dialects.spirv:SPIRV",
    # xDSL's llvm dialect plus the ops it lacks (fptosi, intrinsics, ...).
    "llvm": "dagc.lowering.llvm_ops:LLVMExtended",
}

# Pass name -> "module:ModulePass subclass".
_PASSES: dict[str, str] = {
    # -- dag passes --
    "partition-devices": "dagc.passes.partition_devices:PartitionDevicesPass",
    "dag-fold-batchnorm": "dagc.passes.fold_batchnorm:FoldBatchNormPass",
    "dag-fuse": "dagc.passes.fuse:FusePass",
    "dag-swap-activation": "dagc.passes.swap_activation:SwapActivationPass",
    "dag-insert-batchnorm": "dagc.passes.insert_batchnorm:InsertBatchNormPass",
    "dag-remove-identity": "dagc.passes.remove_identity:RemoveIdentityPass",
    "dag-outline": "dagc.passes.outline:OutlinePass",
    "dag-inline": "dagc.passes.inline:InlinePass",
    "dag-prune-channels": "dagc.passes.prune_channels:PruneChannelsPass",
    "dag-winograd": "dagc.passes.winograd:WinogradPass",
    # -- lowering: dag -> linalg --
    "convert-dag-to-linalg": "dagc.lowering.dag_to_linalg:ConvertDagToLinalgPass",
    "dagc-hoist-weights": "dagc.lowering.hoist_weights:HoistWeightsPass",
    "dagc-outline-kernels": "dagc.lowering.outline_kernels:OutlineKernelsPass",
    "dagc-linalg-fuse-elementwise": "dagc.lowering.linalg_fuse_elementwise:LinalgFuseElementwisePass",
    # -- lowering: bufferization --
    "dagc-bufferize": "dagc.lowering.bufferize:BufferizePass",
    "dagc-plan-memory": "dagc.lowering.plan_memory:PlanMemoryPass",
    "dagc-entry-workspace": "dagc.lowering.entry_workspace:EntryWorkspacePass",
    "dagc-linalg-generalize": "dagc.lowering.linalg_generalize:LinalgGeneralizePass",
    "dagc-linalg-to-loops": "dagc.lowering.linalg_to_loops:LinalgToLoopsPass",
    "dagc-linalg-to-microkernels": "dagc.lowering.linalg_to_microkernels:LinalgToMicroKernelsPass",
    "dagc-hoist-kernel-scratch": "dagc.lowering.hoist_kernel_scratch:HoistKernelScratchPass",
    "dagc-parallel-to-threads": "dagc.lowering.parallel_to_threads:ParallelToThreadsPass",
    # -- lowering: std -> llvm --
    "dagc-math-approximation": "dagc.lowering.math_approximation:MathApproximationPass",
    "convert-arith-to-llvm": "dagc.lowering.arith_to_llvm:ConvertArithToLLVMPass",
    "convert-math-to-llvm": "dagc.lowering.math_to_llvm:ConvertMathToLLVMPass",
    "convert-memref-to-llvm": "dagc.lowering.memref_to_llvm:ConvertMemRefToLLVMPass",
    "convert-func-to-llvm": "dagc.lowering.func_to_llvm:ConvertFuncToLLVMPass",
    "convert-cf-to-llvm": "dagc.lowering.cf_to_llvm:ConvertCfToLLVMPass",
    "convert-to-llvm": "dagc.lowering.to_llvm:ConvertToLLVMPass",
    # -- lowering: gpu / spirv --
    "convert-loops-to-gpu": "dagc.lowering.loops_to_gpu:ConvertLoopsToGPUPass",
    "convert-gpu-to-spirv": "dagc.lowering.gpu_to_spirv:ConvertGPUToSPIRVPass",
    # -- pipelines --
    "dag-to-llvm": "dagc.compiler.compile:DagToLLVMPass",
}


def _available(path: str) -> bool:
    module_name = path.split(":")[0]
    return importlib.util.find_spec(module_name) is not None


def dagc_dialects() -> dict[str, Callable[[], Dialect]]:
    """dagc's own dialects, name -> loader (only those whose file exists)."""
    return {n: _lazy(p) for n, p in _DIALECTS.items() if _available(p)}  # type: ignore[misc]


def dagc_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """dagc's own passes, name -> loader (only those whose file exists)."""
    return {n: _lazy(p) for n, p in _PASSES.items() if _available(p)}  # type: ignore[misc]


DAGC_UNIVERSE = Universe(all_dialects=dagc_dialects(), all_passes=dagc_passes())
"""The ``xdsl.universe`` entry point: makes dagc visible to ``xdsl-opt`` too."""


def plugin_universes() -> list[Universe]:
    """Every installed ``xdsl.universe`` entry point but dagc's own.

    A plugin that fails to load is skipped with a warning on stderr, so one broken
    package never stops dag-opt.
    """
    import sys
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group="xdsl.universe"):
        if ep.value.startswith("dagc."):
            continue
        try:
            found.append(ep.load())
        except Exception as e:  # noqa: BLE001 - a plugin's failure is its own
            print(f"dagc: warning: skipping xdsl.universe plugin '{ep.name}': {e}",
                  file=sys.stderr)
    return found


def all_dialects() -> dict[str, Callable[[], Dialect]]:
    """xDSL's dialects, every installed plugin's, and dagc's (dagc wins on clashes)."""
    from xdsl.dialects import get_all_dialects

    dialects = dict(get_all_dialects())
    for universe in plugin_universes():
        dialects.update(universe.all_dialects)
    dialects.update(dagc_dialects())
    return dialects


def all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """xDSL's passes, every installed plugin's, and dagc's (dagc wins on clashes)."""
    from xdsl.transforms import get_all_passes

    passes = dict(get_all_passes())
    for universe in plugin_universes():
        passes.update(universe.all_passes)
    passes.update(dagc_passes())
    return passes
