"""Helpers shared by the dag-level passes: reading and creating weight constants,
erasing dead constants, the body of a region made of existing ops, and pass options
whose names are Python keywords.

Weights are ``dag.constant`` ops whose value is a ``dense_resource`` blob (see
:mod:`dagc.ir`); small literals are ``dense<...>`` attributes. Passes read both with
:func:`constant_array` and create new blobs with :func:`make_constant`.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Sequence
from typing import Self

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    StringAttr,
    TensorType,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.utils.arg_spec import ArgSpec

from dagc.dialects import dag
from dagc.ir import ResourceStore, numpy_dtype, resources


def literal_array(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    """The values of a ``dense<...>`` attribute as a NumPy array of its type's shape
    and dtype (a splat is broadcast to the full shape)."""
    ty = attr.get_type()
    assert isinstance(ty, TensorType)
    shape = ty.get_shape()
    values = np.asarray(attr.get_values(), dtype=numpy_dtype(ty.element_type))
    if values.size == 1 and int(np.prod(shape)) != 1:
        return np.broadcast_to(values.reshape(()), shape).copy()
    return values.reshape(shape)


def constant_array(value: SSAValue, store: ResourceStore) -> np.ndarray | None:
    """The tensor held by ``value`` if a ``dag.constant`` defines it, else None.

    Raises:
        KeyError: the constant's resource has no blob (elided when printed).
    """
    op = value.owner
    if not isinstance(op, dag.ConstantOp):
        return None
    if isinstance(op.value, DenseResourceAttr):
        return store.array(op.value)
    return literal_array(op.value)


def make_constant(
    store: ResourceStore, name: str, array: np.ndarray, element_type: Attribute
) -> dag.ConstantOp:
    """A new ``dag.constant "name"`` holding ``array`` in a fresh resource blob.

    The array is cast to ``element_type``'s NumPy dtype; the op is not inserted.
    """
    array = np.ascontiguousarray(array, dtype=numpy_dtype(element_type))
    ty = TensorType(element_type, array.shape)
    handle = store.add(name, array)
    return dag.ConstantOp.create(
        result_types=[ty],
        properties={
            "name": StringAttr(name),
            "value": DenseResourceAttr.from_params(handle, ty),
        },
    )


def replace_constant(
    store: ResourceStore, op: dag.ConstantOp, array: np.ndarray
) -> dag.ConstantOp:
    """Insert, before ``op``, a constant with ``op``'s name and element type holding
    ``array`` (any shape), and return it. ``op`` itself is left untouched."""
    new = make_constant(store, op.label, array, op.result.type.element_type)
    block = op.parent_block()
    assert block is not None
    block.insert_op_before(new, op)
    return new


def erase_dead_constants(values: Iterable[SSAValue], rewriter=None) -> None:
    """Erase the ``dag.constant`` ops among the owners of ``values`` that have no
    uses left (what a pass leaves behind after replacing a weight), through
    ``rewriter`` (a PatternRewriter) if given."""
    for v in values:
        op = v.owner
        if isinstance(op, dag.ConstantOp) and op.parent is not None and not op.result.uses:
            if rewriter is not None:
                rewriter.erase(op)
            else:
                op.detach()
                op.erase()


def store_of(ctx: Context) -> ResourceStore:
    """The resource store of a pass's context (see :func:`dagc.ir.resources`)."""
    return resources(ctx)


def block_for(
    inputs: Sequence[SSAValue], ops: Iterable[Operation] = ()
) -> tuple[Block, dict[SSAValue, SSAValue]]:
    """A new block whose arguments stand for ``inputs`` (their types and name
    hints), holding clones of ``ops`` in order with their operands mapped; and the
    mapping from the original values (``inputs``, the ops' results) to the block's.
    The caller adds the terminator (and may clone more ops with the mapping)."""
    block = Block(arg_types=[v.type for v in inputs])
    mapping: dict[SSAValue, SSAValue] = dict(zip(inputs, block.args))
    for arg, value in zip(block.args, inputs):
        arg.name_hint = value.name_hint
    for op in ops:
        block.add_op(op.clone(mapping))
    return block, mapping


def users(value: SSAValue) -> list[Operation]:
    """The operations using ``value`` (each once, in no particular order)."""
    seen: dict[int, Operation] = {}
    for use in value.uses:
        seen.setdefault(id(use.operation), use.operation)
    return list(seen.values())


def rename_options(spec: ArgSpec, names: dict[str, str]) -> ArgSpec:
    """``spec`` with its option names renamed through ``names``."""
    return ArgSpec(spec.name, {names.get(k, k): v for k, v in spec.parameters.items()})


class KeywordOptions:
    """Mixin for passes with options named after Python keywords (``from``).

    A dataclass field cannot be called ``from``, so the field is ``from_`` and this
    mixin maps the textual option ``from=...`` to it and back, as in
    ``dag-swap-activation{from=gelu to=relu}``.
    """

    @classmethod
    def _keyword_fields(cls) -> dict[str, str]:
        import dataclasses

        return {
            f.name[:-1]: f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.name.endswith("_") and keyword.iskeyword(f.name[:-1])
        }

    @classmethod
    def from_spec(cls, spec: ArgSpec) -> Self:
        renamed = rename_options(spec.normalize_parameter_names(), cls._keyword_fields())
        return super().from_spec(renamed)  # type: ignore[misc]

    def spec(self, *, include_default: bool = False) -> ArgSpec:
        spec = super().spec(include_default=include_default)  # type: ignore[misc]
        back = {v: k for k, v in self._keyword_fields().items()}
        return rename_options(spec, back)

