"""Running pass pipelines from Python: ``dagc.run_pipeline``."""

from __future__ import annotations

from dagc.compiler.opt import build_pipeline
from dagc.ir import Module  # noqa: F401 - the type in the signature


def run_pipeline(module: Module, spec: str, verify: bool = True) -> Module:
    """Run a textual pipeline (``"builtin.module(p1,p2{k=v})"`` or ``"p1,p2"``) on a
    copy of ``module`` (:meth:`Module.clone`, which shares no state but the immutable
    weight bytes) and return the copy; ``module`` itself is left unchanged.

    Raises:
        dagc.compiler.diagnostics.Diagnostic: unknown pass or bad pass options.
        xdsl.utils.exceptions.VerifyException: a pass produced invalid IR.
    """
    result = module.clone()
    build_pipeline(spec).apply(result.ctx, result.op)
    if verify:
        result.verify()
    return result
