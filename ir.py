"""dagc's module object: an xDSL ``builtin.module`` plus the weights it refers to.

Weights are ``dense_resource<handle>`` attributes, as in MLIR; their bytes live in a
:class:`ResourceStore` owned by the context's ``builtin`` dialect (MLIR keeps dialect
resources in the dialect too), and are printed in the file's trailer::

    {-#
      dialect_resources: {
        builtin: {
          conv1_weight: "0x04000000...."
        }
      }
    #-}

The blob encoding is MLIR's: a 4-byte little-endian alignment, then the raw
little-endian element bytes. So a ``.mlir`` file is a complete model, with no pickle.
Each parse gets its own context and store, so handles never collide across modules.
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from xdsl.context import Context
from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
from xdsl.dialects.builtin import (
    Builtin,
    DenseResourceAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    ModuleOp,
    TensorType,
)
from xdsl.dialects.func import FuncOp
from xdsl.ir import Attribute, Dialect, Operation
from xdsl.parser import Parser
from xdsl.printer import Printer

_ALIGN = 4


def numpy_dtype(element_type: Attribute) -> np.dtype:
    """The NumPy dtype of an MLIR element type (f16/f32/f64, i1/i8/i32/i64).

    Raises:
        TypeError: for element types dagc does not store.
    """
    if isinstance(element_type, Float32Type):
        return np.dtype(np.float32)
    if isinstance(element_type, Float64Type):
        return np.dtype(np.float64)
    if isinstance(element_type, Float16Type):
        return np.dtype(np.float16)
    if isinstance(element_type, IntegerType):
        width = element_type.width.data
        table = {1: np.bool_, 8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}
        if width in table:
            return np.dtype(table[width])
    raise TypeError(f"no NumPy dtype for element type {element_type}")


class ResourceStore(OpAsmDialectInterface):
    """Blob storage for ``dense_resource`` handles of one context.

    Blobs are raw little-endian bytes (no alignment prefix). Unlike xDSL's default
    interface, a handle read from text keeps its spelling (no renaming), because each
    module has a store of its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self.blobs: dict[str, bytes] = {}

    # -- OpAsmDialectInterface --------------------------------------------------

    def declare_resource(self, key: str) -> str:
        return key

    def parse_resource(self, key: str, val: str) -> None:
        if not val.startswith("0x"):
            raise ValueError(f"blob of '{key}' must be a hex string")
        raw = bytes.fromhex(val[2:])
        if len(raw) < _ALIGN:
            raise ValueError(f"blob of '{key}' has no alignment prefix")
        self.blobs[key] = raw[_ALIGN:]

    def lookup(self, key: str) -> str | None:
        blob = self.blobs.get(key)
        return None if blob is None else "0x" + self._encode(blob)

    def build_resources(self, keys: Iterable[str]) -> dict[str, str]:
        return {key: "0x" + self._encode(self.blobs[key]) for key in keys if key in self.blobs}

    @staticmethod
    def _encode(blob: bytes) -> str:
        return (_ALIGN.to_bytes(4, "little") + blob).hex().upper()

    # -- dagc API ---------------------------------------------------------------

    def fresh_handle(self, name: str) -> str:
        """A handle derived from ``name`` (an op/parameter name) not yet in use."""
        base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "blob"
        if base[0].isdigit():
            base = "_" + base
        handle, i = base, 0
        while handle in self.blobs:
            i += 1
            handle = f"{base}_{i}"
        return handle

    def add(self, name: str, array: np.ndarray) -> str:
        """Store ``array`` (any shape; bytes in C order) under a fresh handle."""
        handle = self.fresh_handle(name)
        self.blobs[handle] = np.ascontiguousarray(array).astype(
            array.dtype.newbyteorder("<"), copy=False
        ).tobytes()
        return handle

    def array(self, attr: DenseResourceAttr) -> np.ndarray:
        """The tensor an attribute refers to, as a read-only NumPy array.

        Raises:
            KeyError: the handle has no blob (e.g. it was elided when printed).
            ValueError: the blob's size does not match the attribute's type.
        """
        handle = attr.resource_handle.data
        if handle not in self.blobs:
            raise KeyError(
                f"resource '{handle}' has no data (elided or missing from the "
                "dialect_resources trailer)"
            )
        ty = attr.type
        assert isinstance(ty, TensorType)
        dtype = numpy_dtype(ty.element_type)
        shape = ty.get_shape()
        blob = self.blobs[handle]
        if len(blob) != dtype.itemsize * int(np.prod(shape)):
            raise ValueError(
                f"resource '{handle}' holds {len(blob)} bytes, but {ty} needs "
                f"{dtype.itemsize * int(np.prod(shape))}"
            )
        return np.frombuffer(blob, dtype=dtype).reshape(shape)


def resources(ctx: Context) -> ResourceStore:
    """The resource store of a context made by :func:`make_context`."""
    store = ctx.get_dialect("builtin").get_interface(OpAsmDialectInterface)
    if not isinstance(store, ResourceStore):
        raise TypeError("context was not made by dagc.ir.make_context")
    return store


def make_context(allow_unregistered: bool = False) -> Context:
    """A Context with every dialect dagc knows and a fresh :class:`ResourceStore`."""
    from dagc.compiler.registry import all_dialects

    ctx = Context(allow_unregistered=allow_unregistered)
    builtin = Dialect("builtin", list(Builtin.operations), list(Builtin.attributes),
                      [ResourceStore()])
    ctx.load_dialect(builtin)
    for name, loader in all_dialects().items():
        if name != "builtin":
            ctx.register_dialect(name, loader)
    return ctx


class Module:
    """A dagc program: a ``builtin.module`` and its context (dialects and weights).

    The entry point is the public ``func.func`` named ``forward`` (or the first
    public function). ``str(m)`` is the complete textual form, weights included.
    """

    def __init__(self, op: ModuleOp, ctx: Context):
        self.op = op
        self.ctx = ctx

    @property
    def resources(self) -> ResourceStore:
        return resources(self.ctx)

    @property
    def forward(self) -> FuncOp:
        """The entry function.

        Raises:
            ValueError: the module has no public function.
        """
        funcs = [o for o in self.op.body.ops if isinstance(o, FuncOp)]
        for f in funcs:
            if f.sym_name.data == "forward":
                return f
        for f in funcs:
            if f.sym_visibility is None or f.sym_visibility.data == "public":
                return f
        raise ValueError("module has no public func.func")

    def walk(self) -> Iterator[Operation]:
        return self.op.walk()

    def verify(self) -> None:
        """Run every op's verifier (raises xdsl VerifyException)."""
        self.op.verify()

    def constant(self, attr: DenseResourceAttr) -> np.ndarray:
        """The weights a ``dense_resource`` attribute refers to."""
        return self.resources.array(attr)

    def to_text(self, elide_larger_than: int | None = None, generic: bool = False) -> str:
        """The textual IR; resources with more than ``elide_larger_than`` elements
        are left out of the trailer (the IR then no longer carries those weights)."""
        stream = io.StringIO()
        Printer(stream=stream, print_generic_format=generic).print_op(self.op)
        stream.write("\n")
        kept = sorted(h for h, ty in self.referenced_resources().items()
                      if elide_larger_than is None or math.prod(ty.get_shape()) <= elide_larger_than)
        blobs = self.resources.build_resources(kept)
        if blobs:
            entries = ",\n".join(f'      {k}: "{v}"' for k, v in blobs.items())
            stream.write("\n{-#\n  dialect_resources: {\n    builtin: {\n"
                         f"{entries}\n    }}\n  }}\n#-}}\n")
        return stream.getvalue()

    def referenced_resources(self) -> dict[str, TensorType]:
        """Handle -> tensor type of every ``dense_resource`` attribute used by an op."""
        found: dict[str, TensorType] = {}
        for op in self.op.walk():
            for attr in (*op.properties.values(), *op.attributes.values()):
                if isinstance(attr, DenseResourceAttr):
                    found[attr.resource_handle.data] = attr.type
        return found

    def __str__(self) -> str:
        return self.to_text()

    def save(self, path: str | os.PathLike) -> None:
        """Write the complete textual form (weights included) to ``path``.

        The file is written to a temporary name and renamed, so a failure never
        leaves a truncated model behind.
        """
        path = Path(path)
        text = self.to_text()
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clone(self) -> Module:
        """A deep copy with a context and weight store of its own, made without
        printing and re-parsing (the blobs, immutable ``bytes``, are shared)."""
        ctx = make_context()
        resources(ctx).blobs.update(self.resources.blobs)
        return Module(self.op.clone(), ctx)


def parse(text: str, filename: str = "<string>", verify: bool = True) -> Module:
    """Parse textual IR (with its resource trailer) into a :class:`Module`.

    Raises:
        xdsl.utils.exceptions.ParseError: malformed text, located as file:line:col.
        xdsl.utils.exceptions.VerifyException: an op fails its verifier.
    """
    ctx = make_context()
    op = Parser(ctx, text, filename).parse_module()
    m = Module(op, ctx)
    if verify:
        m.verify()
    return m


def load(path: str | os.PathLike) -> Module:
    """Read a ``.mlir`` file written by :meth:`Module.save` (or by hand)."""
    path = Path(path)
    return parse(path.read_text(), str(path))
