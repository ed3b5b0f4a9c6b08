"""``torch.compile(model, backend="dagc")``: a TorchDynamo backend compiling to the CPU.

TorchDynamo captures each graph of torch operations it can follow (splitting the
program at graph breaks) as a ``torch.fx.GraphModule`` and hands it to a backend
with example inputs (see torch/_dynamo/backends/registry.py). This backend:

1. makes the example inputs real tensors (fake tensors become random tensors of
   the same shape and dtype);
2. converts the already-traced graph with the PyTorch frontend's graph converter
   (:func:`import_graph_module`: no retracing), one ``dag`` op per node;
3. compiles the dag module with ``dagc.compile(target="cpu")``;
4. returns a callable with the graph's calling convention (the graph's flat
   tensor inputs in, the graph's output structure out).

A graph dagc cannot compile runs eagerly (``gm.forward`` is returned) after ONE
log line on the ``"dagc"`` logger saying why; so does a graph whose inputs require
gradients while grad mode is on (dagc compiles inference code, without autograd),
a graph with symbolic (dynamic) shapes, and a graph that mutates its inputs in
place (e.g. buffers updated in training mode).

Dynamo lifts the model's parameters and buffers to graph inputs, so they stay
inputs of the compiled code: a change to the weights is seen by the next call.

Registration: the ``torch_dynamo_backends`` entry point ``dagc =
"dagc.compiler.torch_backend:dagc_backend"`` (pyproject.toml), or :func:`register`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.fx
from torch.utils import _pytree as pytree
from xdsl.dialects.builtin import ModuleOp

from dagc.ir import Module, make_context

log = logging.getLogger("dagc")

BACKEND_NAME = "dagc"


def _real(x: Any) -> Any:
    """A real tensor for a (possibly fake) example input; other values unchanged.

    Fake tensors (``torch._subclasses.FakeTensor``) carry only shape, dtype and
    device: they become standard-normal (floating point) or zero (integer, bool)
    tensors of that shape and dtype.

    Raises:
        TypeError: a tensor with symbolic (dynamic) sizes.
    """
    if not isinstance(x, torch.Tensor):
        return x
    from torch._subclasses.fake_tensor import is_fake

    if not is_fake(x):
        return x
    if not all(isinstance(s, int) for s in x.shape):
        raise TypeError(f"dynamic shape {tuple(x.shape)}")
    if x.dtype.is_floating_point:
        return torch.randn(tuple(x.shape), dtype=x.dtype)
    return torch.zeros(tuple(x.shape), dtype=x.dtype)


def import_graph_module(gm: torch.fx.GraphModule, example_inputs: Sequence[Any]) -> Module:
    """Convert an already-traced GraphModule (e.g. TorchDynamo's) into the dag dialect.

    The graph is run once on ``example_inputs`` (a ``torch.fx.Interpreter``) to
    record every node's static type, then converted node by node by the PyTorch
    frontend's handlers (:mod:`dagc.compiler.torch_frontend`); nothing is retraced.

    Args:
        gm: the graph; its tensor placeholders become the arguments of ``@forward``
            in order, its ``get_attr`` tensors become ``dag.constant`` weights.
        example_inputs: one real tensor per placeholder (f32 ``N x ...`` typically);
            they fix all static shapes.

    Returns:
        A verified :class:`dagc.ir.Module`.

    Raises:
        ImportError_: a node has no dag op (the message lists every such node), or
            the graph fails on the example inputs.
    """
    from dagc.compiler.torch_frontend import (
        ImportError_,
        Problem,
        _FunctionImporter,
        _Recorder,
    )

    module = Module(ModuleOp([]), make_context())
    recorder = _Recorder(gm)
    with torch.no_grad():
        try:
            recorder.run(*example_inputs)
        except Exception as e:  # reported as an import problem
            raise ImportError_([Problem("<graph>", type(gm).__name__, "",
                                        f"the graph fails on the example inputs "
                                        f"({type(e).__name__}: {e})".splitlines()[0],
                                        "")]) from e
        problems: list = []
        func = _FunctionImporter(module, gm, recorder.values, (), {}, problems).run()
    if problems or func is None:
        raise ImportError_(problems or [Problem("<graph>", type(gm).__name__, "",
                                                "the graph has non-tensor outputs", "")])
    module.op.body.block.add_op(func)
    module.verify()
    return module


def _reason(e: BaseException) -> str:
    """The first line of an exception's message, prefixed by its class name."""
    text = str(e).strip()
    if type(e).__name__ == "ImportError_" and getattr(e, "problems", None):
        p = e.problems[0]  # type: ignore[attr-defined]
        more = f" (+{len(e.problems) - 1} more)" if len(e.problems) > 1 else ""  # type: ignore[attr-defined]
        return f"{p.where} [{p.cls}]: {p.reason}{more}"
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


def _mutated_inputs(gm: torch.fx.GraphModule) -> list[str]:
    """Placeholders that an in-place op (``add_``, ``relu(inplace=True)``,
    ``operator.iadd``...) writes: dagc's code is functional, so such a graph must
    run eagerly for the caller to see the mutation."""
    from dagc.compiler.torch_frontend import _is_inplace

    return [n.args[0].name for n in gm.graph.nodes
            if n.op != "placeholder" and n.args and isinstance(n.args[0], torch.fx.Node)
            and n.args[0].op == "placeholder" and _is_inplace(n, gm)]


def dagc_backend(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    """TorchDynamo backend: compile ``gm`` for the CPU with dagc, else run it eagerly.

    Args:
        gm: the captured graph (torch-level ops; parameters lifted to inputs).
        example_inputs: one value per placeholder; real or fake tensors.

    Returns:
        A callable taking the graph's inputs and returning what ``gm.forward``
        returns (the same tuple/list structure) with dagc-computed tensors, or
        ``gm.forward`` itself when dagc cannot compile the graph (one WARNING on
        the ``"dagc"`` logger says why).

    The compiled code is specialised to the example inputs' shapes and dtypes;
    TorchDynamo's guards recompile (or fall back) for other shapes.
    """
    from dagc.compiler.compile import compile as dagc_compile

    try:
        if not all(isinstance(x, torch.Tensor) for x in example_inputs):
            kinds = sorted({type(x).__name__ for x in example_inputs
                            if not isinstance(x, torch.Tensor)})
            raise TypeError(f"non-tensor graph inputs ({', '.join(kinds)}): dynamic "
                            "shapes are not supported (pass dynamic=False to "
                            "torch.compile to recompile per shape)")
        if torch.is_grad_enabled() and any(x.requires_grad for x in example_inputs):
            raise TypeError("inputs require grad and grad mode is on; dagc compiles "
                            "inference graphs (call the model under torch.no_grad())")
        mutated = _mutated_inputs(gm)
        if mutated:
            raise TypeError(f"the graph mutates its inputs in place ({', '.join(mutated)})")
        inputs = [_real(x) for x in example_inputs]
        with torch.no_grad():
            expected = gm(*inputs)
        out_leaves, out_spec = pytree.tree_flatten(expected)
        if not all(isinstance(t, torch.Tensor) for t in out_leaves):
            raise TypeError("the graph returns non-tensor values")
        dag_module = import_graph_module(gm, inputs)
        compiled = dagc_compile(dag_module, target="cpu")
    except Exception as e:  # noqa: BLE001 - any failure means: run eagerly
        log.warning("torch.compile backend 'dagc': a %d-node graph runs eagerly: %s",
                    len(gm.graph.nodes), _reason(e))
        return gm.forward

    n_out = len(out_leaves)
    out_dtypes = [t.dtype for t in out_leaves]
    log.info("torch.compile backend 'dagc': compiled a %d-node graph (%d kernels)",
             len(gm.graph.nodes), compiled.kernels)

    def run(*args: Any) -> Any:
        with torch.no_grad():
            outs = compiled(*args)
        if n_out == 1 or not isinstance(outs, tuple):
            outs = (outs,)
        outs = [o.to(d) for o, d in zip(outs, out_dtypes)]
        return pytree.tree_unflatten(outs, out_spec)

    run.compiled = compiled  # type: ignore[attr-defined]
    return run


def register() -> None:
    """Register :func:`dagc_backend` as ``torch.compile(backend="dagc")``.

    Idempotent; not needed when dagc is installed with its
    ``torch_dynamo_backends`` entry point.
    """
    from torch._dynamo.backends import registry

    if BACKEND_NAME not in registry._COMPILER_FNS:
        registry.register_backend(dagc_backend, name=BACKEND_NAME)
