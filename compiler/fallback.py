"""The importer's fallback chain, for models ``torch.fx`` cannot trace as a whole.

``dagc.import_torch(model, inputs, fallback="auto")`` tries, in order:

0. ``torch.fx`` symbolic tracing of the whole model (the normal path). When it
   fails to *trace*, steps 1 and 2 follow; when it traces but some ``torch.nn``
   library layers have no dag op, step 2 leafs them; other conversion errors
   (a function with no dag op) are reported as they are.
1. **TorchDynamo export** (``torch._dynamo.export``): dynamo runs the Python code
   on the example inputs and records torch-level operations, specialising Python
   control flow on shapes and sizes (``if x.shape[-1] > 8``, ``for c in
   range(x.size(1))``, ``len(x)``, asserts on shapes, iteration over tensors). The
   graph holds the same torch-level ops symbolic tracing records
   (``torch.conv2d``, ``F.batch_norm``, ``Tensor.reshape``...), so it converts
   with the frontend's handlers (:func:`dagc.compiler.torch_backend.import_graph_module`);
   ops are renamed to their module paths (``layer1.0.conv1``) and weights to their
   ``state_dict`` names. Control flow on *data* (``if x.sum() > 0``, ``.item()``,
   ``.tolist()``) makes the export fail; so does any op without a dag handler.
   Skipped when the user gave ``leaf_modules``, ``concrete_args`` or
   ``preserve_hierarchy`` (the export would not honour them). The ATen-level
   ``torch.export.export`` is not used: its decomposed ops have no handlers.
2. **Automatic leafing** (Intel Neural Compressor's "auto" mode for models whose
   FX trace fails, see DESIGN.md's seeds): the smallest submodules that fail to
   trace (:func:`dagc.compiler.torch_frontend.find_untraceable`), and library
   layers with no dag op, become leaf modules, i.e. ``dag.opaque`` ops run by
   torch on HOST; the rest is traced. Repeated while new modules fail.

What happened is recorded on the module: ``module.op.attributes["dagc.import"]``
is the strategy (``"fx"``, ``"dynamo"``, ``"fx+leafed"``) and
``module.op.attributes["dagc.leafed"]`` lists ``{path, class, reason}`` per leafed
module; :func:`fallback_report` reads both back. :func:`opaque_for` gives the
``opaque=`` mapping :func:`dagc.to_torch` needs for the leafed modules.

:func:`doctor` tabulates, for every submodule, whether it traces, why not, and
the suggested fix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx
from torch import nn
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, StringAttr

from dagc.ir import Module

log = logging.getLogger("dagc")


_MAX_ROUNDS = 8


@dataclass
class Leafed:
    """A submodule kept as a ``dag.opaque`` op: its path, class
    (``pkg.mod.Class``) and why it was leafed."""

    path: str
    cls: str
    reason: str


@dataclass
class FallbackReport:
    """How a model was imported: ``strategy`` is ``"fx"`` (traced as a whole),
    ``"dynamo"`` (TorchDynamo export) or ``"fx+leafed"`` (traced with the
    ``leafed`` modules opaque); ``attempts`` says why earlier steps failed."""

    strategy: str
    leafed: list[Leafed] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"imported with {self.strategy}"]
        lines += [f"  {a}" for a in self.attempts]
        lines += [f"  leafed {x.path} [{x.cls}]: {x.reason}" for x in self.leafed]
        return "\n".join(lines)


def fallback_report(module: Module) -> FallbackReport:
    """The :class:`FallbackReport` recorded on an imported module (``"fx"`` with
    nothing leafed when none was recorded)."""
    attrs = module.op.attributes
    strategy = attrs["dagc.import"].data if "dagc.import" in attrs else "fx"
    leafed = []
    if "dagc.leafed" in attrs:
        for d in attrs["dagc.leafed"].data:
            leafed.append(Leafed(d.data["path"].data, d.data["class"].data,
                                 d.data["reason"].data))
    attempts = [a.data for a in attrs["dagc.attempts"].data] if "dagc.attempts" in attrs else []
    return FallbackReport(strategy, leafed, attempts)


def _record(module: Module, report: FallbackReport) -> Module:
    attrs = module.op.attributes
    attrs["dagc.import"] = StringAttr(report.strategy)
    if report.attempts:
        attrs["dagc.attempts"] = ArrayAttr([StringAttr(a) for a in report.attempts])
    if report.leafed:
        attrs["dagc.leafed"] = ArrayAttr([
            DictionaryAttr({"path": StringAttr(x.path), "class": StringAttr(x.cls),
                            "reason": StringAttr(x.reason)})
            for x in report.leafed])
    return module


def opaque_for(model: nn.Module, module: Module) -> dict[str, nn.Module]:
    """The ``opaque=`` argument of :func:`dagc.to_torch` for ``module``'s leafed
    submodules: ``{class qualified name: the model's instance}``.

    Instances of one class share an entry (``dag.opaque`` names its class, not its
    instance); their parameters come from the IR's constants.
    """
    return {x.cls: model.get_submodule(x.path) for x in fallback_report(module).leafed}


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


# ----------------------------------------------------------------------------
# Step 1: TorchDynamo export
# ----------------------------------------------------------------------------


def _module_path(stack_entry: str) -> str:
    """``"L['self'].layer1.0.conv1"`` (dynamo's nn_module_stack) -> ``"layer1.0.conv1"``."""
    path = re.sub(r"^L\['self'\]\.?", "", stack_entry)
    path = re.sub(r"\._modules\['([^']+)'\]", r".\1", path)
    path = re.sub(r"\[(\d+)\]", r".\1", path)
    path = re.sub(r"\['([^']+)'\]", r".\1", path)
    return path.lstrip(".")


def _rename_like_fx(model: nn.Module, gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Give dynamo's graph fx's names: weights by ``state_dict`` name, and the
    (first) op of each ``torch.nn`` layer by the layer's path."""
    names = {id(t): k for k, t in [*model.named_parameters(), *model.named_buffers()]}
    root: dict[str, Any] = {}
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            value = getattr(gm, node.target)
            node.target = names.get(id(value), node.target)
            root[node.target] = value
    used = {n.name for n in gm.graph.nodes}
    for node in gm.graph.nodes:
        stack = node.meta.get("nn_module_stack")
        if node.op != "call_function" or not stack:
            continue
        entry, cls = list(stack.values())[-1]
        path = _module_path(entry)
        if path and path not in used and getattr(cls, "__module__", "").startswith("torch.nn"):
            used.add(path)
            node.name = path
    return torch.fx.GraphModule(root, gm.graph, type(model).__name__)


def import_dynamo(model: nn.Module, example_inputs: tuple) -> Module:
    """Import ``model`` through ``torch._dynamo.export`` (one graph, no breaks).

    Args:
        model: in eval mode (the caller's job); example_inputs: tensors fixing shapes.

    Returns:
        A verified dag :class:`Module` without opaque ops.

    Raises:
        Exception: dynamo cannot export the model as one graph (data-dependent
            control flow, unsupported Python), or ImportError_ listing the ops
            without dag handlers.
    """
    import torch._dynamo

    from dagc.compiler.torch_backend import import_graph_module

    gm, _guards = torch._dynamo.export(model, assume_static_by_default=True)(*example_inputs)
    gm = _rename_like_fx(model, gm)
    return import_graph_module(gm, list(example_inputs))


# ----------------------------------------------------------------------------
# Step 2: automatic leafing, and the chain
# ----------------------------------------------------------------------------


def _trace_failed(e: BaseException) -> bool:
    return str(e).startswith("torch.fx cannot trace the model")


def _leafable(model: nn.Module, problems: list) -> list[tuple[str, type, str]]:
    """(path, class, reason) of the problems that leafing a submodule fixes:
    untraceable submodules and library layers with no dag op."""
    mods = dict(model.named_modules())
    out = []
    for p in problems:
        if p.where in mods and p.where and (
                p.reason.startswith("torch.fx cannot trace it") or "no dag op" in p.reason):
            out.append((p.where, type(mods[p.where]), p.reason))
    return out


def import_with_fallback(
    model: nn.Module,
    example_inputs: tuple,
    importer: Callable[[tuple[type, ...]], Module],
    leaf_modules: tuple[type, ...] = (),
    dynamo: bool = True,
) -> Module:
    """Run the fallback chain (see the module docstring).

    Args:
        model: the torch model (already in eval mode, under ``torch.no_grad``).
        example_inputs: the example tensors.
        importer: ``importer(leaves)`` imports ``model`` by ``torch.fx`` with the
            given leaf classes (the frontend's ``_import`` with the user's options).
        leaf_modules: the user's leaf classes.
        dynamo: try step 1 (the frontend passes False when the user's options
            would not be honoured by the export).

    Returns:
        The imported module, with its :class:`FallbackReport` recorded.

    Raises:
        ImportError_: no step succeeded; the problems are those of the last
            ``torch.fx`` attempt, with the earlier steps' failures in the headline.
    """
    from dagc.compiler.torch_frontend import ImportError_, qualified_name

    try:
        return importer(leaf_modules)
    except ImportError_ as e:
        first = e
    if _trace_failed(first):
        attempts = [f"torch.fx: cannot trace the model ({len(first.problems)} problem(s))"]
    elif _leafable(model, first.problems):
        attempts = [f"torch.fx: {len(first.problems)} problem(s) converting the graph"]
        dynamo = False  # the same layers have no dag op in dynamo's graph
    else:
        raise first
    if dynamo:
        try:
            module = import_dynamo(model, example_inputs)
            log.info("dagc import: torch.fx failed, TorchDynamo export succeeded")
            return _record(module, FallbackReport("dynamo", [], attempts))
        except Exception as e:  # noqa: BLE001 - any failure moves to the next step
            attempts.append(f"TorchDynamo export: {_first_line(e)}")
    leaves = tuple(leaf_modules)
    leafed: list[Leafed] = []
    error: ImportError_ = first
    for _ in range(_MAX_ROUNDS):
        new = [(p, c, r) for p, c, r in _leafable(model, error.problems)
               if not issubclass(c, leaves)]
        if not new:
            break
        for path, cls, reason in new:
            if not issubclass(cls, leaves):
                leaves += (cls,)
            leafed.append(Leafed(path, qualified_name(cls), reason))
            # Leafing changes where code runs (HOST): never silent.
            log.warning("dagc import: leafing %s [%s]: %s", path, qualified_name(cls), reason)
        try:
            module = importer(leaves)
        except ImportError_ as e:
            error = e
            continue
        # Instances of a leafed class elsewhere in the model are opaque too.
        paths = {x.path for x in leafed}
        for path, mod in model.named_modules():
            if path and path not in paths and isinstance(mod, tuple(
                    c for c in leaves if c not in leaf_modules)) and not any(
                    path.startswith(q + ".") for q in paths):
                leafed.append(Leafed(path, qualified_name(type(mod)),
                                     "another instance of a leafed class"))
        return _record(module, FallbackReport("fx+leafed", leafed, attempts))
    raise ImportError_(error.problems, "cannot import the model: torch.fx tracing failed, "
                       + "; ".join(attempts[1:] or ["no fallback succeeded"])
                       + "; automatic leafing could not fix:") from error


# ----------------------------------------------------------------------------
# dagc doctor
# ----------------------------------------------------------------------------


@dataclass
class Diagnosis:
    """One row of :func:`doctor`: a submodule and whether ``torch.fx`` traces it."""

    module: str
    cls: str
    traceable: bool
    reason: str
    fix: str


_CAUSES: tuple[tuple[str, str], ...] = (
    ("cannot be used as inputs to control flow", "Python control flow on a proxy"),
    ("cannot be iterated", "iteration over a proxy"),
    ("'len' is not supported", "len() of a proxy"),
    ("cannot be interpreted as an integer", "a proxy used as an int (range, sizes)"),
    ("positional argument", "a tensor constructor given proxy sizes"),
    ("not 'Proxy'", "a proxy converted to a Python number (.item(), int())"),
    ("__array", "numpy called on a proxy"),
    ("Proxy(", "a proxy used as a key or string"),
)


def _fix_for(reason: str, cls: str, dynamo_error: str | None) -> str:
    """The suggested fix for a module that fails to trace with ``reason``;
    ``dynamo_error`` is why TorchDynamo export fails on it (None: it succeeds)."""
    name = cls.rsplit(".", 1)[-1]
    cause = next((c for needle, c in _CAUSES if needle in reason), "untraceable Python")
    if dynamo_error is None:
        return (f"{cause}: fallback='auto' (or torch.compile(backend='dagc')) imports it "
                "without opaque ops (TorchDynamo specialises shapes)")
    return (f"{cause}; TorchDynamo fails too ({dynamo_error}): leaf_modules=({name},) "
            "keeps it as an opaque op run by torch (fallback='auto' does it), or "
            "rewrite it with tensor ops")


def _dynamo_error(mod: nn.Module, args: tuple, kwargs: dict) -> str | None:
    """Why TorchDynamo export does not import ``mod`` on these arguments into dag
    ops; None when it does."""
    from dagc.compiler.torch_backend import _reason

    if kwargs or not all(isinstance(a, torch.Tensor) for a in args):
        return "non-tensor or keyword arguments"
    try:
        with torch.no_grad():
            import_dynamo(mod, tuple(args))
    except Exception as e:  # noqa: BLE001 - the failure is the answer
        return _reason(e)[:120]
    return None


def diagnose(model: nn.Module, example_inputs: tuple) -> list[Diagnosis]:
    """For the model and each submodule it calls that is not a ``torch.nn`` library
    layer: does ``torch.fx`` trace it, why not, and the suggested fix.

    A module that fails only because a child fails says so. For the smallest
    failing modules the fix depends on whether TorchDynamo export imports the
    module on the inputs it received (control flow on shapes: ``fallback='auto'``
    handles it without opaque ops) or not (control flow on data: leaf it).
    Library layers without a dag op are listed (fix: leaf them).

    Raises:
        Exception: the eager model fails on ``example_inputs``.
    """
    example_inputs = tuple(example_inputs)
    was_training = model.training
    model.eval()
    try:
        return _diagnose(model, example_inputs)
    finally:
        model.train(was_training)


def _diagnose(model: nn.Module, example_inputs: tuple) -> list[Diagnosis]:
    from dagc.compiler.torch_frontend import _MODULES, _capture_inputs, _Tracer, qualified_name

    called = _capture_inputs(model, example_inputs)
    failing: dict[str, str] = {}
    rows: dict[str, Diagnosis] = {}
    for path, mod in model.named_modules():
        if path and path not in called:
            continue
        cls = qualified_name(type(mod))
        library = bool(path) and type(mod).__module__.startswith("torch.nn")
        if library:
            if type(mod) not in _MODULES and not isinstance(mod, (nn.Sequential, nn.ModuleList,
                                                                  nn.ModuleDict)):
                rows[path] = Diagnosis(path, cls, True, "torch.nn layer without a dag op",
                                       f"leaf_modules=({type(mod).__name__},), or add a "
                                       "handler and a dag op")
            continue
        try:
            _Tracer((), frozenset()).trace(mod)
            rows[path] = Diagnosis(path or "<model>", cls, True, "", "")
        except Exception as e:  # noqa: BLE001 - the failure is the finding
            failing[path] = _first_line(e)
    for path, reason in failing.items():
        cls = qualified_name(type(model.get_submodule(path)))
        children = [q for q in failing if q.startswith(path + ".") or (not path and q)]
        minimal = [q for q in children if not any(r.startswith(q + ".") for r in failing
                                                  if r != q)]
        if minimal:
            rows[path] = Diagnosis(path or "<model>", cls, False,
                                   f"contains untraceable {', '.join(minimal)}",
                                   "fixed by fixing those")
        else:
            args, kwargs = called.get(path, (example_inputs, {}))
            why = _dynamo_error(model.get_submodule(path), args, kwargs)
            rows[path] = Diagnosis(path or "<model>", cls, False, reason,
                                   _fix_for(reason, cls, why))
    order = {p: i for i, (p, _) in enumerate(model.named_modules())}
    return [rows[p] for p in sorted(rows, key=lambda p: order.get(p, 0))]


def doctor(model: nn.Module, example_inputs: tuple):
    """``dagc doctor MODEL``: a rich ``Table`` with columns module, class,
    traceable, reason, suggested fix (one row per :func:`diagnose` entry)."""
    from rich.table import Table

    table = Table(title=f"dagc doctor: {type(model).__name__}")
    for col in ("module", "class", "traceable", "reason", "suggested fix"):
        table.add_column(col)
    for d in diagnose(model, example_inputs):
        table.add_row(d.module, d.cls, "[green]yes[/green]" if d.traceable else "[red]no[/red]",
                      d.reason, d.fix)
    return table
