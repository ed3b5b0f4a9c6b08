"""``dagc``: the user-facing command line.

    dagc import MODEL [-o model.mlir] [--elide N]     torch/ONNX/.mlir -> dag IR
    dagc view MODEL -o graph.dot|.svg [--allocation a.json]   draw the graph
    dagc compile [MODEL] [--target cpu] [-o build/] [--no-cache]   compile (cached), save,
                                                       report (default ResNet-18)
    dagc run build/ [--input x.npy]                    run a compiled artifact
    dagc prune MODEL --ratio 0.5 [-o pruned.mlir]      channel pruning, a table per group
    dagc alloc-template MODEL --default X64:0 -o alloc.json   allocation to edit
    dagc doctor MODEL                                  why tracing fails, and the fix
    dagc stats MODEL [--top N --sort flops]            FLOPs/MACs/params/kmapp per op
    dagc models                                       list the built-in examples

MODEL is one of: a built-in example name (``dagc models``), ``pkg.module:factory``,
``path/to/file.py:factory``, a ``.mlir`` file or an ``.onnx`` file. A factory returns
``(model, example_inputs)`` or just a model (then give ``--input-shape 1,3,224,224``).

Errors are one located message on stderr and exit status 1, never a traceback
(set ``DAGC_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]] = {}


class CLIError(Exception):
    """A user error: printed as ``dagc: error: <message>``, exit status 1."""


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]):
    """Register a subcommand: ``configure(parser)`` adds its arguments, the
    decorated ``run(args) -> exit code`` runs it."""

    def deco(run: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = (configure, run, help)
        return run

    return deco


# ----------------------------------------------------------------------------
# Model specs
# ----------------------------------------------------------------------------


def _load_object(spec: str) -> Any:
    """``pkg.module:attr`` or ``path/file.py:attr`` -> the attribute."""
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        path = Path(target)
        if not path.exists():
            raise CLIError(f"no such file: {target}")
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[path.stem] = module
        mod_spec.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise CLIError(f"cannot import '{target}': {e}") from e
    if not hasattr(module, attr):
        raise CLIError(f"'{target}' has no attribute '{attr}'")
    return getattr(module, attr)


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v)
    except ValueError as e:
        raise CLIError(f"bad shape '{text}': use e.g. 1,3,224,224") from e


def resolve_model(spec: str | None, input_shapes: list[str] | None = None,
                  default: str = "resnet18") -> tuple[Any, tuple]:
    """A model spec -> ``(torch model, example_inputs)`` or ``(dagc Module, ())``.

    Raises:
        CLIError: the spec names nothing loadable.
    """
    import torch

    spec = spec or default
    if spec.endswith(".mlir"):
        import dagc

        if not Path(spec).exists():
            raise CLIError(f"no such file: {spec}")
        return dagc.load(spec), ()
    if spec.endswith(".onnx"):
        from dagc.compiler.onnx_frontend import import_onnx

        if not Path(spec).exists():
            raise CLIError(f"no such file: {spec}")
        return import_onnx(spec), ()
    if ":" not in spec:
        from dagc.examples.models import MODELS

        if spec not in MODELS:
            raise CLIError(f"unknown model '{spec}': use pkg.module:factory, "
                           f"file.py:factory, a .mlir/.onnx file, or one of "
                           f"{', '.join(MODELS)}")
        return MODELS[spec]()
    obj = _load_object(spec)
    made = obj() if callable(obj) and not isinstance(obj, torch.nn.Module) else obj
    if isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], torch.nn.Module):
        model, inputs = made
        inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    elif isinstance(made, torch.nn.Module):
        if not input_shapes:
            raise CLIError(f"'{spec}' gives a model without example inputs: pass "
                           "--input-shape 1,3,224,224")
        model = made
        g = torch.Generator().manual_seed(0)
        inputs = tuple(torch.randn(parse_shape(s), generator=g) for s in input_shapes)
    else:
        raise CLIError(f"'{spec}' must be an nn.Module or return (model, example_inputs)")
    return model.eval(), inputs


def load_module(spec: str | None, args: argparse.Namespace):
    """A model spec imported into a dagc Module (``.mlir`` files are just loaded)."""
    import dagc

    model, inputs = resolve_model(spec, getattr(args, "input_shape", None))
    if isinstance(model, dagc.Module):
        return model
    leaves = tuple(_load_object(s) for s in getattr(args, "leaf", None) or ())
    return dagc.import_torch(model, inputs, leaf_modules=leaves,
                             fallback=getattr(args, "fallback", "auto"))


def add_model_args(p: argparse.ArgumentParser, optional: bool = False) -> None:
    p.add_argument("model", nargs="?" if optional else None,
                   help="example name, pkg.module:factory, file.py:factory, .mlir or .onnx")
    p.add_argument("--input-shape", action="append",
                   help="shape of an example input when the factory gives only a model")
    p.add_argument("--leaf", action="append",
                   help="pkg.module:Class to keep as an opaque op (repeatable)")
    p.add_argument("--fallback", choices=["auto", "none"], default="auto",
                   help="when torch.fx cannot trace: try TorchDynamo export and automatic "
                        "leafing (auto), or report every problem (none)")


def write_output(text: str, output: str | None, inputs: tuple[str, ...] = ()) -> None:
    """Print to stdout or write ``output``, refusing to overwrite an input file."""
    if not output or output == "-":
        sys.stdout.write(text)
        return
    out = Path(output).resolve()
    if any(Path(i).resolve() == out for i in inputs if i):
        raise CLIError(f"refusing to overwrite the input file {output}")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, out)


# ----------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------


def _configure_import(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    p.add_argument("-o", "--output", help="output .mlir (default: stdout)")
    p.add_argument("--elide", type=int, default=None, metavar="N",
                   help="leave out weights with more than N elements")


@command("import", "import a model into the dag dialect and print its IR", _configure_import)
def _import(args: argparse.Namespace) -> int:
    m = load_module(args.model, args)
    write_output(m.to_text(args.elide), args.output, (args.model,))
    return 0


def _configure_view(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    p.add_argument("-o", "--output", required=True, help="graph.dot, .svg, .png or .pdf")
    p.add_argument("--allocation", help="allocation JSON (op name -> device) to colour by")
    p.add_argument("--default", default="X64:0", help="device of ops the allocation omits")


@command("view", "draw the graph (Graphviz DOT/SVG), coloured by op kind or device",
         _configure_view)
def _view(args: argparse.Namespace) -> int:
    import json

    from dagc.compiler.view import render, to_dot

    m = load_module(args.model, args)
    allocation = None
    if args.allocation:
        try:
            allocation = json.loads(Path(args.allocation).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise CLIError(f"cannot read allocation {args.allocation}: {e}") from e
    dot = to_dot(m, allocation, args.default)
    suffix = Path(args.output).suffix.lstrip(".")
    if suffix == "dot":
        write_output(dot, args.output, (args.model,))
    else:
        Path(args.output).write_bytes(render(dot, suffix))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _configure_compile(p: argparse.ArgumentParser) -> None:
    add_model_args(p, optional=True)
    p.add_argument("--target", default="cpu", choices=["cpu", "vulkan"],
                   help="cpu (LLVM for this machine) or vulkan (SPIR-V; a GPU or lavapipe)")
    p.add_argument("-o", "--output", default="build", help="artifact directory (default: build/)")
    p.add_argument("--force", action="store_true", help="replace an existing dagc artifact")
    p.add_argument("-p", "--passes", default=None, help="dag-level passes to run first")
    p.add_argument("--runs", type=int, default=10, help="timed runs for the latency figure")
    p.add_argument("--allocation", help="allocation JSON: op name -> device (KIND:index)")
    p.add_argument("--no-cache", action="store_true",
                   help="neither read nor write the compile cache ($DAGC_CACHE_DIR, "
                        "default ~/.cache/dagc; DAGC_CACHE=0 turns it off too)")


@command("compile", "compile a model (default: ResNet-18) to native code and report",
         _configure_compile)
def _compile(args: argparse.Namespace) -> int:
    import time

    import numpy as np
    import torch

    import dagc
    from dagc.compiler.report import compile_report, progress

    model, inputs = resolve_model(args.model, args.input_shape)
    leaves = tuple(_load_object(c) for c in args.leaf or ())
    with progress() as step:
        compiled = dagc.compile(model, inputs, target=args.target, pipeline=args.passes,
                                allocation=args.allocation, progress=step, opaque=leaves,
                                cache=not args.no_cache)
        step("save")
        out = compiled.save(args.output, overwrite=args.force)
    if isinstance(model, dagc.Module):
        reference = dagc.to_torch(model, leaves)
        g = torch.Generator().manual_seed(0)
        inputs = tuple(torch.randn(s.shape, generator=g) for s in compiled.inputs)
    else:
        reference = model
    with torch.no_grad():
        want = reference(*inputs)
    got = compiled(*inputs)
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    err = max(float((w - g).abs().max()) for w, g in zip(want, got))
    scale = max(float(w.abs().max()) for w in want)
    times = []
    for _ in range(max(args.runs, 1)):
        t = time.perf_counter()
        compiled(*inputs)
        times.append(time.perf_counter() - t)
    compile_report(compiled, err, scale, float(np.median(times)), out)
    return 0


def _configure_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="artifact directory written by dagc compile")
    p.add_argument("--input", action="append", help="input .npy file (repeat per input)")
    p.add_argument("-o", "--output", help="write the (first) output to this .npy file")


@command("run", "run a compiled artifact on .npy inputs (random if none)", _configure_run)
def _run(args: argparse.Namespace) -> int:
    import numpy as np

    import dagc.runtime

    runner = dagc.runtime.load(args.artifact)
    if args.input:
        try:
            inputs = [np.load(f, allow_pickle=False) for f in args.input]
        except (OSError, ValueError) as e:
            raise CLIError(f"cannot read input: {e}") from e
    else:
        rng = np.random.default_rng(0)
        inputs = [rng.standard_normal(s.shape).astype(s.dtype) for s in runner.inputs]
    outs = runner(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    for i, o in enumerate(outs):
        print(f"output {i}: {o.dtype}{list(o.shape)} min {o.min():.6g} max {o.max():.6g} "
              f"mean {o.mean():.6g}")
    if args.output:
        np.save(args.output, outs[0])
    return 0


def _configure_prune(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    p.add_argument("--ratio", type=float, default=0.5, help="fraction of channels to remove")
    p.add_argument("--flops-target", type=float, default=None,
                   help="fraction of the FLOPs to keep (searches the ratio)")
    p.add_argument("--criterion", default="l1", choices=["l1", "bn-gamma", "scores"])
    p.add_argument("--scores-file", default=None, help="JSON: group op name -> importances")
    p.add_argument("--min-channels", type=int, default=1)
    p.add_argument("--round-to", type=int, default=1)
    p.add_argument("-o", "--output", help="pruned .mlir (default: only the report)")


@command("prune", "prune channel groups and print a table per group", _configure_prune)
def _prune(args: argparse.Namespace) -> int:
    from rich.console import Console

    from dagc.passes.prune_channels import prune

    m = load_module(args.model, args)
    pruned, report = prune(m, args.ratio, flops_target=args.flops_target,
                           criterion=args.criterion, scores=args.scores_file,
                           min_channels=args.min_channels, round_to=args.round_to)
    Console().print(report.table())
    if args.output:
        write_output(pruned.to_text(), args.output, (args.model,))
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _configure_stats(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    p.add_argument("--top", type=int, default=None, help="only the N most expensive ops")
    p.add_argument("--sort", default=None, choices=["flops", "macs", "params", "kmapp"])


@command("stats", "FLOPs, MACs, parameters and kmapp per op and in total", _configure_stats)
def _stats(args: argparse.Namespace) -> int:
    from rich.console import Console

    from dagc.passes.analysis import model_stats

    Console().print(model_stats(load_module(args.model, args)).table(args.top, args.sort))
    return 0


def _configure_alloc_template(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    p.add_argument("--default", default="X64:0", help="device for every op (KIND:index)")
    p.add_argument("-o", "--output", help="allocation JSON to write (default: stdout)")


@command("alloc-template", "write an allocation JSON (every op -> the default device)",
         _configure_alloc_template)
def _alloc_template(args: argparse.Namespace) -> int:
    import json

    from dagc.passes.partition_devices import alloc_template

    template = alloc_template(load_module(args.model, args), args.default)
    write_output(json.dumps(template, indent=2) + "\n", args.output, (args.model,))
    return 0


def _configure_doctor(p: argparse.ArgumentParser) -> None:
    add_model_args(p)


@command("doctor", "which submodules trace, why not, and the fix (a table)", _configure_doctor)
def _doctor(args: argparse.Namespace) -> int:
    from rich.console import Console

    import dagc
    from dagc.compiler.fallback import doctor

    model, inputs = resolve_model(args.model, args.input_shape)
    if isinstance(model, dagc.Module):
        raise CLIError("doctor needs a torch model, not IR")
    Console().print(doctor(model, inputs))
    return 0


@command("models", "list the built-in example models", lambda p: None)
def _models(args: argparse.Namespace) -> int:
    from dagc.examples.models import MODELS

    for name in MODELS:
        print(name)
    return 0


# ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dagc`` console script."""
    parser = argparse.ArgumentParser(prog="dagc", description="the dagc compiler")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (configure, _, help_) in COMMANDS.items():
        configure(sub.add_parser(name, help=help_))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - every failure becomes one message
        if os.environ.get("DAGC_DEBUG"):
            traceback.print_exc()
        from dagc.compiler.diagnostics import Diagnostic, format_exception

        if isinstance(e, CLIError) or type(e).__name__ in ("ArtifactError", "CompileError"):
            print(f"dagc: error: {e}", file=sys.stderr)
        elif type(e).__name__ in ("ImportError_", "MissingOpaqueClass") or isinstance(e, Diagnostic):
            print(f"dagc: error: {e}", file=sys.stderr)
        else:
            d = format_exception(e, getattr(args, "model", None) or "dagc")
            print(f"{d} (set DAGC_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
