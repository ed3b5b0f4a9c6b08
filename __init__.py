"""dagc: an MLIR-style multi-level compiler for PyTorch models, written on xDSL.

The public API (see DESIGN.md section 3)::

    m = dagc.import_torch(model, example_inputs, leaf_modules=(), concrete_args=None)
    m = dagc.import_onnx("model.onnx");  dagc.export_onnx(m, "out.onnx")
    m = dagc.parse(text) / dagc.load("model.mlir");  m.save("model.mlir");  str(m)
    m = dagc.run_pipeline(m, "builtin.module(canonicalize,cse)")
    net = dagc.to_torch(m)
    compiled = dagc.compile(model, example_inputs, target="cpu");  compiled.save("build/")
    runner = dagc.runtime.load("build/")
    dagable, undagable = dagc.look_for_dagable_modules(model, example_inputs)
    pruned, report = dagc.prune(m, ratio=0.5);  print(dagc.stats(m).table())

Heavy imports (torch, the frontends) happen on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CompileError",
    "Module",
    "compile",
    "export_onnx",
    "import_onnx",
    "import_torch",
    "load",
    "look_for_dagable_modules",
    "parse",
    "prune",
    "run_pipeline",
    "stats",
    "to_torch",
]

_LAZY = {
    "Module": "dagc.ir",
    "parse": "dagc.ir",
    "load": "dagc.ir",
    "import_torch": "dagc.compiler.torch_frontend",
    "look_for_dagable_modules": "dagc.compiler.torch_frontend",
    "ImportError_": "dagc.compiler.torch_frontend",
    "to_torch": "dagc.runtime.reference",
    "run_pipeline": "dagc.compiler.pipeline",
    "compile": "dagc.compiler.compile",
    "import_onnx": "dagc.compiler.onnx_frontend",
    "export_onnx": "dagc.compiler.onnx_exporter",
    "stats": "dagc.passes.analysis",
    "prune": "dagc.passes.prune_channels",
    "CompileError": "dagc.compiler.compile",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        from dagc.compiler.heap import frozen_heap

        with frozen_heap():  # collections during the import skip torch's objects
            module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    raise AttributeError(f"module 'dagc' has no attribute {name!r}")
