"""MLIR-style located diagnostics for dagc's tools.

xDSL's parser does not attach source locations to ops, so :class:`LocatingParser`
records where each op starts, and :func:`verify_located` runs the verifiers op by op
(nested ops first) and reports ``file:line:col: error: 'op.name' op message``.
Every tool prints diagnostics through :class:`Diagnostic` and exits with status 1;
none prints a Python traceback for bad input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.utils.exceptions import (
    ArgSpecParseError,
    DiagnosticException,
    ParseError,
    VerifyException,
)


@dataclass
class Diagnostic(Exception):
    """One located message; ``str()`` is ``file:line:col: severity: message``."""

    file: str
    line: int
    col: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}: " if self.line else f"{self.file}: "
        return f"{where}{self.severity}: {self.message}"


class LocatingParser(Parser):
    """A Parser that remembers the source position (line, column) of every op."""

    def __init__(self, ctx: Context, text: str, name: str = "<stdin>", line_offset: int = 0):
        super().__init__(ctx, text, name)
        self.line_offset = line_offset
        self.locations: dict[Operation, tuple[int, int]] = {}

    def parse_optional_operation(self) -> Operation | None:
        loc = self._current_token.span.get_location()
        op = super().parse_optional_operation()
        if op is not None:
            self.locations[op] = (loc.line + self.line_offset, loc.col)
        return op


def parse_error_to_diagnostic(e: ParseError, line_offset: int = 0) -> Diagnostic:
    """A ParseError as a located Diagnostic."""
    loc = e.span.get_location()
    return Diagnostic(loc.file, loc.line + line_offset, loc.col, e.msg)


def _first_line(e: Exception) -> str:
    text = str(e.args[0]) if e.args else str(e)
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__


def verify_located(
    module: ModuleOp, locations: dict[Operation, tuple[int, int]], file: str
) -> list[Diagnostic]:
    """Verify every op (innermost first); return one Diagnostic per failing op."""
    found: list[Diagnostic] = []

    def visit(op: Operation) -> None:
        for region in op.regions:
            for block in region.blocks:
                for child in block.ops:
                    visit(child)
        try:
            op.verify(verify_nested_ops=False)
        except (VerifyException, DiagnosticException, ValueError) as e:
            msg = _first_line(e).removeprefix("Operation does not verify: ")
            line, col = _enclosing_location(op, locations)
            found.append(Diagnostic(file, line, col, f"'{op.name}' op {msg}"))

    visit(module)
    return found


def _enclosing_location(op: Operation | None, locations) -> tuple[int, int]:
    while op is not None:
        if op in locations:
            return locations[op]
        op = op.parent_op()
    return (0, 0)


def format_exception(e: BaseException, file: str, line_offset: int = 0) -> Diagnostic:
    """Any error a tool meets on user input, as one Diagnostic."""
    if isinstance(e, Diagnostic):
        return e
    if isinstance(e, ParseError):
        return parse_error_to_diagnostic(e, line_offset)
    if isinstance(e, ArgSpecParseError):
        return Diagnostic("<pass-pipeline>", 0, 0, " ".join(str(e).split()))
    return Diagnostic(file, 0, 0, _first_line(e))


_EXPECTED = re.compile(
    r"//\s*expected-(error|warning|note|remark)\s*(@above|@below|@[+-]\d+)?\s*\{\{(.*?)\}\}"
)


@dataclass
class Expected:
    severity: str
    line: int
    message: str


def expected_diagnostics(text: str, line_offset: int = 0) -> list[Expected]:
    """MLIR's ``// expected-error {{...}}`` annotations (with ``@+N``/``@-N``,
    ``@above``, ``@below``) found in ``text``."""
    out = []
    for i, line in enumerate(text.splitlines(), start=1 + line_offset):
        for m in _EXPECTED.finditer(line):
            where = m.group(2)
            target = i
            if where == "@above":
                target = i - 1
            elif where == "@below":
                target = i + 1
            elif where:
                target = i + int(where[1:])
            out.append(Expected(m.group(1), target, m.group(3)))
    return out


def check_expected(expected: list[Expected], emitted: list[Diagnostic]) -> list[str]:
    """Match emitted diagnostics against expectations (substring on the same line,
    or any line when the emitted one has no location). Returns the mismatches as
    messages; empty when all match."""
    problems = []
    unmatched = list(emitted)
    for exp in expected:
        hit = next((d for d in unmatched if d.severity == exp.severity
                    and exp.message in d.message and d.line in (exp.line, 0)), None)
        if hit is None:
            problems.append(f"expected {exp.severity} \"{exp.message}\" at line "
                            f"{exp.line} was not produced")
        else:
            unmatched.remove(hit)
    for d in unmatched:
        problems.append(f"unexpected {d}")
    return problems
