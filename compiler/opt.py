"""``dag-opt``: dagc's ``mlir-opt``: parse IR, run a pass pipeline, print IR.

Usage::

    dag-opt in.mlir --pass-pipeline='builtin.module(p1,p2{opt=v})' -o out.mlir
    dag-opt in.mlir -p p1,p2 --split-input-file --verify-diagnostics
    dag-opt --list-passes

Diagnostics are ``file:line:col: error: message`` on stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from pathlib import Path
from collections.abc import Callable
from typing import TextIO

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline

from dagc.compiler.diagnostics import (
    Diagnostic,
    LocatingParser,
    check_expected,
    expected_diagnostics,
    format_exception,
    verify_located,
)
from dagc.ir import Module, make_context

SPLIT_MARKER = re.compile(r"^// -----\s*$", re.MULTILINE)


def pipeline_from_spec(spec: str) -> str:
    """Strip MLIR's ``builtin.module(...)`` anchor from a textual pipeline."""
    spec = spec.strip()
    m = re.fullmatch(r"(?:builtin\.)?module\((.*)\)", spec, re.DOTALL)
    return m.group(1) if m else spec


def build_pipeline(spec: str, callback=None) -> PassPipeline:
    """A PassPipeline from ``"a,b{k=v}"`` or ``"builtin.module(a,b{k=v})"``.

    Raises:
        Diagnostic: an unknown pass (listing the close names) or a bad option.
    """
    from dagc.compiler.registry import all_passes

    available = all_passes()
    inner = pipeline_from_spec(spec)
    from xdsl.utils.arg_spec import parse_pipeline

    from xdsl.utils.exceptions import ArgSpecParseError

    try:
        specs = list(parse_pipeline(inner)) if inner else []
    except ArgSpecParseError as e:  # a BaseException in xDSL: never let it escape
        detail = " ".join(str(e).split())
        raise Diagnostic("<pass-pipeline>", 0, 0,
                         f"{detail} (quote option values such as default=\"X64:1\")") from None
    unknown = [s.name for s in specs if s.name not in available]
    if unknown:
        import difflib

        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, available, n=3)
            hints.append(f"'{name}'" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise Diagnostic("<pass-pipeline>", 0, 0,
                         f"unknown pass {'; '.join(hints)}; see dag-opt --list-passes")
    passes = []
    for s in specs:
        try:
            passes.append(available[s.name]().from_pass_spec(s))
        except Exception as e:  # noqa: BLE001 - option errors are user errors
            raise Diagnostic("<pass-pipeline>", 0, 0,
                             f"invalid options for pass '{s.name}': {e}") from e
    return PassPipeline(tuple(passes), callback)


def list_passes(out: TextIO) -> None:
    """Print every registered pass with the first line of its docstring."""
    from dagc.compiler.registry import all_passes, dagc_passes

    ours = dagc_passes()
    out.write("dagc passes:\n")
    for name in sorted(ours):
        out.write(f"  {name:36s} {_summary(ours[name])}\n")
    out.write("xDSL passes:\n")
    for name in sorted(set(all_passes()) - set(ours)):
        out.write(f"  {name}\n")


def _summary(loader: Callable[[], type[ModulePass]]) -> str:
    try:
        doc = loader().__doc__ or ""
    except Exception as e:  # noqa: BLE001 - a broken plugin should not stop listing
        return f"(cannot load: {e})"
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dag-opt", description="dagc's modular optimizer driver")
    p.add_argument("input", nargs="?", default="-", help="input file ('-' for stdin)")
    p.add_argument("-o", "--output", default="-", help="output file")
    p.add_argument("--pass-pipeline", default=None, help="builtin.module(p1,p2{k=v})")
    p.add_argument("-p", "--passes", default=None, help="comma-separated passes")
    p.add_argument("--split-input-file", action="store_true",
                   help="split the input at '// -----' and process each chunk alone")
    p.add_argument("--verify-diagnostics", action="store_true",
                   help="check emitted diagnostics against // expected-error {{...}}")
    p.add_argument("--list-passes", action="store_true")
    p.add_argument("--mlir-print-ir-after-all", action="store_true")
    p.add_argument("--mlir-print-ir-before-all", action="store_true")
    p.add_argument("--mlir-elide-elementsattrs-if-larger", type=int, default=None)
    p.add_argument("--mlir-print-op-generic", action="store_true")
    p.add_argument("--allow-unregistered-dialect", action="store_true")
    p.add_argument("--no-verify", action="store_true", help="skip the verifier")
    return p


class Opt:
    """One dag-opt invocation (arguments parsed); ``run()`` returns the exit code."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.file = "<stdin>" if args.input == "-" else args.input

    def _dump(self, when: str, pass_: ModulePass | None, module: ModuleOp, ctx) -> None:
        if pass_ is None:
            return
        sys.stderr.write(f"// -----// IR Dump {when} {pass_.name} //----- //\n")
        sys.stderr.write(self._print(Module(module, ctx)))

    def _print(self, m: Module) -> str:
        return m.to_text(self.args.mlir_elide_elementsattrs_if_larger,
                         self.args.mlir_print_op_generic)

    def run(self) -> int:
        a = self.args
        if a.list_passes:
            list_passes(sys.stdout)
            return 0
        try:
            text = sys.stdin.read() if a.input == "-" else Path(a.input).read_text()
        except OSError as e:
            print(f"dag-opt: error: cannot read '{a.input}': {e.strerror}", file=sys.stderr)
            return 1
        spec = a.pass_pipeline if a.pass_pipeline is not None else (a.passes or "")
        chunks = self._chunks(text)
        outputs: list[str] = []
        failed = False
        for chunk, offset in chunks:
            out, diags = self._process(chunk, offset, spec)
            if a.verify_diagnostics:
                problems = check_expected(expected_diagnostics(chunk, offset), diags)
                for msg in problems:
                    print(f"{self.file}: error: {msg}", file=sys.stderr)
                failed |= bool(problems)
            else:
                for d in diags:
                    print(d, file=sys.stderr)
                failed |= bool(diags)
            if out is not None:
                outputs.append(out)
        if failed and not a.verify_diagnostics:
            return 1
        self._write("// -----\n".join(outputs))
        return 1 if failed else 0

    def _chunks(self, text: str) -> list[tuple[str, int]]:
        if not self.args.split_input_file:
            return [(text, 0)]
        chunks, offset, start = [], 0, 0
        for m in SPLIT_MARKER.finditer(text):
            chunks.append((text[start:m.start()], offset))
            offset += text[start:m.end()].count("\n")
            start = m.end()
        chunks.append((text[start:], offset))
        return chunks

    def _process(self, chunk: str, offset: int, spec: str) -> tuple[str | None, list[Diagnostic]]:
        ctx = make_context(self.args.allow_unregistered_dialect)
        parser = LocatingParser(ctx, chunk, self.file, offset)
        try:
            pipeline = build_pipeline(spec, self._callback(ctx))
            module = parser.parse_module()
        except Exception as e:  # noqa: BLE001 - reported as a diagnostic
            return None, [format_exception(e, self.file, offset)]
        if not self.args.no_verify:
            diags = verify_located(module, parser.locations, self.file)
            if diags:
                return None, diags
        try:
            pipeline.apply(ctx, module)
        except Exception as e:  # noqa: BLE001
            if os.environ.get("DAGC_DEBUG"):
                traceback.print_exc()
            d = format_exception(e, self.file, offset)
            if not isinstance(e, Diagnostic):
                d.message += " (set DAGC_DEBUG=1 for a traceback)"
            return None, [d]
        if not self.args.no_verify:
            diags = verify_located(module, parser.locations, self.file)
            if diags:
                return None, diags
        return self._print(Module(module, ctx)), []

    def _callback(self, ctx):
        a = self.args
        if not (a.mlir_print_ir_after_all or a.mlir_print_ir_before_all):
            return None

        def callback(prev: ModulePass | None, module: ModuleOp, nxt: ModulePass | None):
            if a.mlir_print_ir_after_all:
                self._dump("After", prev, module, ctx)
            if a.mlir_print_ir_before_all:
                self._dump("Before", nxt, module, ctx)

        return callback

    def _write(self, text: str) -> None:
        if self.args.output == "-":
            sys.stdout.write(text)
        else:
            with open(self.args.output, "w") as f:
                f.write(text)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dag-opt`` console script."""
    args = _arg_parser().parse_args(argv)
    try:
        return Opt(args).run()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
