"""``dag-translate``: leave MLIR for another format.

    dag-translate in.mlir --mlir-to-llvmir -o out.ll      llvm dialect -> LLVM IR
    dag-translate in.mlir --serialize-spirv -o out.spv    spirv.module -> SPIR-V binary

Errors are located diagnostics with exit status 1, as in ``dag-opt``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from xdsl.dialects.builtin import ModuleOp

from dagc.compiler.diagnostics import LocatingParser, format_exception, verify_located
from dagc.ir import make_context


def _to_llvmir(module: ModuleOp, ctx) -> bytes:
    from dagc.lowering.llvm_to_llvmir import translate_to_llvmir

    return translate_to_llvmir(module, ctx).encode()


def _to_spirv(module: ModuleOp, ctx) -> bytes:
    from dagc.dialects.spirv import ModuleOp as SpirvModule
    from dagc.lowering.spirv_binary import serialize

    spirv = [op for op in module.walk() if isinstance(op, SpirvModule)]
    if len(spirv) != 1:
        raise ValueError(f"expected exactly one spirv.module, found {len(spirv)}")
    return serialize(spirv[0])


TRANSLATIONS = {"mlir_to_llvmir": _to_llvmir, "serialize_spirv": _to_spirv}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dag-translate`` console script."""
    p = argparse.ArgumentParser(prog="dag-translate")
    p.add_argument("input", nargs="?", default="-")
    p.add_argument("-o", "--output", default="-")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--mlir-to-llvmir", dest="mode", action="store_const", const="mlir_to_llvmir")
    g.add_argument("--serialize-spirv", dest="mode", action="store_const", const="serialize_spirv")
    args = p.parse_args(argv)
    file = "<stdin>" if args.input == "-" else args.input
    try:
        text = sys.stdin.read() if args.input == "-" else open(args.input).read()
        ctx = make_context()
        parser = LocatingParser(ctx, text, file)
        module = parser.parse_module()
        diags = verify_located(module, parser.locations, file)
        if diags:
            for d in diags:
                print(d, file=sys.stderr)
            return 1
        data = TRANSLATIONS[args.mode](module, ctx)
    except Exception as e:  # noqa: BLE001 - every failure is one diagnostic
        if os.environ.get("DAGC_DEBUG"):
            traceback.print_exc()
        print(format_exception(e, file), file=sys.stderr)
        return 1
    if args.output == "-":
        if args.mode == "serialize_spirv":
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data.decode())
    else:
        with open(args.output, "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
