"""Channel groups of a dag module, computed on the IR from per-op channel rules.

A *slice* is one index along one dim of one tensor value (``(value, dim, index)``).
Each op states which slices of its operands and results must be removed together
if a channel is pruned (:data:`RULES`):

- pass-through: elementwise ops and activations, batch norm, pooling, resize, the
  leading dims of layer norm, permute (dims permuted), expand and broadcasting
  (equal extents only);
- coupled: ``add``/``mul``/... couple their operands' dims (residuals), linear and
  conv couple the input channels with the weight's input dim and the output
  channels with the weight's output dim and the bias; matmul and attention couple
  their contraction dims;
- offset: ``concat`` maps input slice ``j`` to output slice ``offset + j``;
  ``slice`` (step 1) maps output slice ``j`` to input slice ``start + j``;
- blocks: a grouped or depthwise convolution couples the input and output channels
  of each group into one unit (pruned as a whole group: depthwise couples input
  and output channels); group norm couples the channels of each of its groups
  (whole groups are pruned, so the statistics of the others do not change);
  ``reshape`` merging dims (flatten) maps channel ``c`` of the outer merged dim to
  the block ``[c*inner, (c+1)*inner)`` of the merged dim (so flatten -> linear
  prunes a block of linear input features per channel), and splitting a dim maps
  it to the outer split dim;
- forbidden: a dim an op does not carry through (conv spatial dims, reduced dims,
  the softmax dim, layer-norm dims, padded dims, selected dims, the inner dims of a
  merge or split, which is why attention heads are not pruned), every dim of an
  opaque op, a call, a function argument (model input) or a returned value (model
  output).

Slices coupled index-to-index form *axes* (one union-find over ``(value, dim)``);
the other couplings join ``(axis, index)`` pairs into *atoms* (a second
union-find): an atom is the smallest set of slices that can be removed. Atoms
touching the same set of axes form a :class:`ChannelGroup`; a group is prunable if
one of its axes holds the output channels of a conv, transposed conv or linear op
(a *producer*) and none of its axes is forbidden. This is the dependency-graph
view of structured pruning of torch-pruning (Fang et al., "DepGraph: Towards Any
Structural Pruning", CVPR 2023) and torch-dag's channel pruning, expressed on
dagc's IR instead of on module classes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from xdsl.dialects.builtin import TensorType
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue

from dagc.dialects import dag

DimRef = tuple[SSAValue, int]
"""One dim of one tensor value."""


def _shape(value: SSAValue) -> tuple[int, ...]:
    ty = value.type
    return ty.get_shape() if isinstance(ty, TensorType) else ()


def _label(op: Operation) -> str:
    return op.label if isinstance(op, dag.DagOp) else op.name


class _UnionFind:
    """Union-find with path halving over hashable keys (keys appear on first use)."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):
        parent = self.parent
        if x not in parent:
            parent[x] = x
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


@dataclass
class Producer:
    """An op whose output channels are a prunable dim (conv, transposed conv, linear)."""

    op: Operation
    out: DimRef
    """The result dim holding its output channels."""


class Coupler:
    """What a channel rule uses to state how one op carries channels.

    Every operand/result dim a rule does not mention is forbidden afterwards.
    """

    def __init__(self, graph: _Builder, op: Operation):
        self.graph = graph
        self.op = op
        self.mentioned: set[tuple[int, int]] = set()

    def _mention(self, v: SSAValue, d: int) -> int:
        rank = len(_shape(v))
        d = d + rank if d < 0 else d
        self.mentioned.add((id(v), d))
        return d

    def same(self, a: SSAValue, da: int, b: SSAValue, db: int) -> None:
        """Slice ``i`` of ``a`` dim ``da`` goes with slice ``i`` of ``b`` dim ``db``."""
        da, db = self._mention(a, da), self._mention(b, db)
        if _shape(a)[da] != _shape(b)[db]:
            self.forbid(a, da, "extents differ")
            self.forbid(b, db, "extents differ")
            return
        self.graph.dims.union((a, da), (b, db))

    def pair(self, a: SSAValue, da: int, ia: int, b: SSAValue, db: int, ib: int) -> None:
        """Slice ``ia`` of ``a`` dim ``da`` goes with slice ``ib`` of ``b`` dim ``db``."""
        da, db = self._mention(a, da), self._mention(b, db)
        self.graph.pairs.append(((a, da), ia, (b, db), ib))

    def touch(self, v: SSAValue, d: int) -> None:
        """Mention a dim whose slices are free (each removable on its own)."""
        self._mention(v, d)

    def forbid(self, v: SSAValue, d: int, reason: str) -> None:
        """No slice of this dim may be removed."""
        d = self._mention(v, d)
        where = (f"{self.op.name} '{self.op.label}'" if isinstance(self.op, dag.DagOp)
                 else self.op.name)
        self.graph.forbidden.setdefault((v, d), f"{reason} ({where})")

    def broadcast(self, operand: SSAValue, out: SSAValue, skip_last: int = 0) -> None:
        """Couple ``operand``'s dims with ``out``'s under NumPy broadcasting (aligned
        from the right; equal extents only), leaving the last ``skip_last`` dims."""
        a, o = _shape(operand), _shape(out)
        for k in range(len(o) - skip_last):
            d = k - (len(o) - len(a))
            if 0 <= d < len(a) - skip_last and a[d] == o[k]:
                self.same(operand, d, out, k)

    def produces(self, out: SSAValue, d: int) -> None:
        """``out`` dim ``d`` holds the output channels of this (weighted) op."""
        d = self._mention(out, d)
        self.graph.producers.append(Producer(self.op, (out, d)))


Rule = Callable[[Operation, Coupler], None]


def _ints(attr) -> tuple[int, ...]:
    return tuple(int(v) for v in attr.get_values())


def _elementwise(op: Operation, c: Coupler) -> None:
    for operand in op.operands:
        c.broadcast(operand, op.results[0])


def _along_dim(op: dag.DimOp, c: Coupler) -> None:
    d = op.dim.value.data
    for k in range(len(_shape(op.input))):
        if k != d:
            c.same(op.input, k, op.result, k)


def _groups_blocks(c: Coupler, x: SSAValue, out: SSAValue, g: int) -> None:
    """Couple group ``k``'s input channels with its output channels (one unit)."""
    cin, cout = _shape(x)[1], _shape(out)[1]
    cg, fg = cin // g, cout // g
    if cg == 1 and fg == 1:
        c.same(x, 1, out, 1)
        return
    for k in range(g):
        for j in range(cg):
            c.pair(x, 1, k * cg + j, out, 1, k * fg)
        for j in range(1, fg):
            c.pair(out, 1, k * fg + j, out, 1, k * fg)


def _conv(op: dag.Conv2dOp | dag.ConvTranspose2dOp, c: Coupler) -> None:
    """Conv weights are ``F x C/g x ...``, transposed conv weights ``C x F/g x ...``:
    weight dim 0 spans all channels of one side, dim 1 one group of the other."""
    x, w, out = op.input, op.weight, op.result
    whole, per_group = (out, x) if isinstance(op, dag.Conv2dOp) else (x, out)
    c.same(x, 0, out, 0)
    c.same(whole, 1, w, 0)
    if op.groups.value.data == 1:
        c.same(per_group, 1, w, 1)
    else:
        _groups_blocks(c, x, out, op.groups.value.data)
    if op.bias is not None:
        c.same(out, 1, op.bias, 0)
    c.produces(out, 1)


def _linear(op: dag.LinearOp, c: Coupler) -> None:
    x, w, out = op.input, op.weight, op.result
    rank = len(_shape(x))
    for d in range(rank - 1):
        c.same(x, d, out, d)
    c.same(x, rank - 1, w, 1)
    c.same(out, rank - 1, w, 0)
    if op.bias is not None:
        c.same(out, rank - 1, op.bias, 0)
    c.produces(out, rank - 1)


def _matmul(op: dag.MatmulOp, c: Coupler) -> None:
    a, b, out = op.lhs, op.rhs, op.result
    c.broadcast(a, out, skip_last=2)
    c.broadcast(b, out, skip_last=2)
    c.same(a, -2, out, -2)
    c.same(b, -1, out, -1)
    c.same(a, -1, b, -2)


def _attention(op: dag.ScaledDotProductAttentionOp, c: Coupler) -> None:
    q, k, v, out = op.query, op.key, op.value, op.result
    for t in (q, k, v):
        c.broadcast(t, out, skip_last=2)
    c.same(q, -2, out, -2)
    c.same(q, -1, k, -1)
    c.same(k, -2, v, -2)
    c.same(v, -1, out, -1)
    if op.mask is not None:
        m = op.mask
        c.broadcast(m, out, skip_last=2)
        if len(_shape(m)) >= 2:
            if _shape(m)[-2] == _shape(q)[-2]:
                c.same(m, -2, q, -2)
            if _shape(m)[-1] == _shape(k)[-2]:
                c.same(m, -1, k, -2)


def _batch_norm(op: dag.BatchNormOp, c: Coupler) -> None:
    for d in range(len(_shape(op.input))):
        c.same(op.input, d, op.result, d)
    for p in (op.mean, op.var, op.weight, op.bias):
        c.same(op.input, 1, p, 0)


def _layer_norm(op: dag.LayerNormOp, c: Coupler) -> None:
    lead = len(_shape(op.input)) - len(_shape(op.weight))
    for d in range(lead):
        c.same(op.input, d, op.result, d)
    # The normalised dims share statistics: removing a slice would change them.


def _group_norm(op: dag.GroupNormOp, c: Coupler) -> None:
    x = op.input
    for d in range(len(_shape(x))):
        c.same(x, d, op.result, d)
    c.same(x, 1, op.weight, 0)
    c.same(x, 1, op.bias, 0)
    g = op.num_groups.value.data
    cg = _shape(x)[1] // g
    for k in range(g):
        for j in range(1, cg):
            c.pair(x, 1, k * cg + j, x, 1, k * cg)


def _batch_and_channels(op: Operation, c: Coupler) -> None:
    """Pooling and resizing: N and C pass through, spatial dims do not."""
    c.same(op.operands[0], 0, op.results[0], 0)
    c.same(op.operands[0], 1, op.results[0], 1)


def _reduce(op: dag.ReduceOp, c: Coupler) -> None:
    dims = set(_ints(op.dims))
    keep = op.keepdim is not None
    k = 0
    for d in range(len(_shape(op.input))):
        if d in dims:
            k += keep
            continue
        c.same(op.input, d, op.result, k)
        k += 1


def _permute(op: dag.PermuteOp, c: Coupler) -> None:
    for i, p in enumerate(_ints(op.perm)):
        c.same(op.input, p, op.result, i)


def _expand(op: dag.ExpandOp, c: Coupler) -> None:
    c.broadcast(op.input, op.result)


def _concat(op: dag.ConcatOp, c: Coupler) -> None:
    dim, out = op.dim.value.data, op.result
    offset = 0
    for x in op.inputs:
        shape = _shape(x)
        for d in range(len(shape)):
            if d != dim:
                c.same(x, d, out, d)
        for j in range(shape[dim]):
            c.pair(x, dim, j, out, dim, offset + j)
        offset += shape[dim]


def _slice(op: dag.SliceOp, c: Coupler) -> None:
    dim, x, out = op.dim.value.data, op.input, op.result
    for d in range(len(_shape(x))):
        if d != dim:
            c.same(x, d, out, d)
    if op.step.value.data == 1:
        start = op.start.value.data
        c.touch(x, dim)  # slices outside [start, end) are free
        for j in range(_shape(out)[dim]):
            c.pair(x, dim, start + j, out, dim, j)


def _select(op: dag.SelectOp, c: Coupler) -> None:
    dim = op.dim.value.data
    for d in range(len(_shape(op.input))):
        if d != dim:
            c.same(op.input, d, op.result, d - (d > dim))


def _pad(op: dag.PadOp, c: Coupler) -> None:
    pads = _ints(op.pads)
    rank = len(_shape(op.input))
    padded = {rank - 1 - i for i in range(len(pads) // 2)
              if pads[2 * i] or pads[2 * i + 1]}
    for d in range(rank):
        if d not in padded:
            c.same(op.input, d, op.result, d)


def _reshape(op: dag.ReshapeOp, c: Coupler) -> None:
    x, out = op.input, op.result
    src, dst = _shape(x), _shape(out)
    for b, (bi, bj) in enumerate(dag.reshape_blocks(src, dst)):
        ins = [d for d in bi if src[d] != 1]
        outs = [d for d in bj if dst[d] != 1]
        if len(ins) == 1 and len(outs) == 1:
            c.same(x, ins[0], out, outs[0])
        elif len(ins) > 1 and len(outs) == 1:
            # merge (flatten): one merged dim carries channels, in (strided) blocks
            k = c.graph.carrier((id(op), b), [(x, d) for d in ins])
            carrier, inner = ins[k], math.prod(src[d] for d in ins[k + 1:])
            for o in range(dst[outs[0]]):
                c.pair(out, outs[0], o, x, carrier, (o // inner) % src[carrier])
        elif len(ins) == 1 and len(outs) > 1:
            # split (e.g. features -> heads x head_dim): one split dim carries them
            k = c.graph.carrier((id(op), b), [(out, d) for d in outs])
            carrier, inner = outs[k], math.prod(dst[d] for d in outs[k + 1:])
            for i in range(src[ins[0]]):
                c.pair(x, ins[0], i, out, carrier, (i // inner) % dst[carrier])


def _constant(op: dag.ConstantOp, c: Coupler) -> None:
    for d in range(len(_shape(op.result))):
        c.touch(op.result, d)  # a weight is sliced along whatever its users prune


RULES: dict[type[Operation], Rule] = {
    **{cls: _elementwise for cls in dag.UNARY_OPS},
    **{cls: _elementwise for cls in (dag.AddOp, dag.SubOp, dag.MulOp, dag.DivOp,
                                     dag.PowOp, dag.MaximumOp, dag.MinimumOp)},
    dag.SoftmaxOp: _along_dim,
    dag.LogSoftmaxOp: _along_dim,
    dag.Conv2dOp: _conv,
    dag.ConvTranspose2dOp: _conv,
    dag.LinearOp: _linear,
    dag.MatmulOp: _matmul,
    dag.ScaledDotProductAttentionOp: _attention,
    dag.BatchNormOp: _batch_norm,
    dag.LayerNormOp: _layer_norm,
    dag.GroupNormOp: _group_norm,
    dag.MaxPool2dOp: _batch_and_channels,
    dag.AvgPool2dOp: _batch_and_channels,
    dag.AdaptiveAvgPool2dOp: _batch_and_channels,
    dag.InterpolateOp: _batch_and_channels,
    dag.MeanOp: _reduce,
    dag.SumOp: _reduce,
    dag.ReshapeOp: _reshape,
    dag.ExpandOp: _expand,
    dag.PermuteOp: _permute,
    dag.ConcatOp: _concat,
    dag.SliceOp: _slice,
    dag.SelectOp: _select,
    dag.PadOp: _pad,
    dag.ConstantOp: _constant,
}  # fmt: skip
"""Op class -> channel rule. Ops without a rule (opaque ops, calls, other dialects)
forbid every dim of their operands and results."""


@dataclass
class _Builder:
    choices: dict[tuple[int, int], int] = field(default_factory=dict)
    """(id of a reshape, block) -> which merged/split dim carries the channels."""
    dims: _UnionFind = field(default_factory=_UnionFind)
    pairs: list[tuple[DimRef, int, DimRef, int]] = field(default_factory=list)
    forbidden: dict[DimRef, str] = field(default_factory=dict)
    producers: list[Producer] = field(default_factory=list)
    open_choices: list[tuple[tuple[int, int], list[DimRef]]] = field(default_factory=list)
    """Every (reshape block, candidate carrier dims) met, in program order."""

    def carrier(self, key: tuple[int, int], candidates: list[DimRef]) -> int:
        self.open_choices.append((key, candidates))
        return self.choices.get(key, 0)


@dataclass
class Atom:
    """The smallest set of slices that can be pruned: ``axis -> indices``."""

    slices: dict[int, tuple[int, ...]]


@dataclass
class ChannelGroup:
    """Channels coupled across the IR and pruned together (see module docstring)."""

    index: int
    representative: str
    """Name of the first producer (in program order): the group's key in reports
    and score files."""
    axes: frozenset[int]
    atoms: list[Atom]
    """Prunable units, ordered by their first channel on the representative axis."""
    rep_axis: int
    """The axis of the representative's output channels."""
    producers: list[str]
    members: list[str]
    """Every non-constant op with an operand or result along the group's axes."""
    params: list[str]
    """The constants (weights) sliced when the group is pruned."""
    prunable: bool
    reason: str = ""
    """Why the group is kept, if it is."""

    @property
    def channels(self) -> int:
        """Channels of the representative's output in this group."""
        return sum(len(a.slices.get(self.rep_axis, ())) for a in self.atoms)

    def channels_per_atom(self) -> int:
        return max(1, self.channels // max(1, len(self.atoms)))


class ChannelAnalysis:
    """Channel groups of one function (by default the module's entry).

    Attributes:
        func: the analysed ``func.func``.
        groups: every group holding a producer's channels, prunable or not.
    """

    def __init__(self, func: FuncOp, search: bool = True):
        self.func = func
        self.ops: list[Operation] = list(func.body.block.ops)
        self.values: list[SSAValue] = list(func.args)
        for op in self.ops:
            self.values.extend(op.results)
        self._shapes: dict[int, tuple[int, ...]] = {}
        choices: dict[tuple[int, int], int] = {}
        b = self._build(choices)
        self._resolve(b)
        if search:
            self._search_carriers(b, choices)

    def _build(self, choices: dict[tuple[int, int], int]) -> _Builder:
        b = _Builder(dict(choices))
        for arg in self.func.args:
            for d in range(len(_shape(arg))):
                b.forbidden.setdefault((arg, d), "model input")
        for op in self.ops:
            self._apply_rule(b, op)
        return b

    def _search_carriers(self, b: _Builder, choices: dict[tuple[int, int], int]) -> None:
        """Greedy search, in program order, of the dim that carries channels through
        each reshape that merges or splits dims (the outer one by default): keep an
        alternative when it makes more units prunable. This finds attention heads
        behind ``(..., 3*H*E) -> (..., 3, H, E)`` whose outer dim is selected.
        Expects the analysis resolved for ``b``; leaves it resolved for the best."""
        best, best_b, resolved = self._prunable_units(), b, b
        for key, candidates in list(b.open_choices):
            if resolved is not best_b:
                self._resolve(best_b)
                resolved = best_b
            current = choices.get(key, 0)
            if self.axis(*candidates[current]) not in self.forbidden:
                continue
            for alt in range(len(candidates)):
                if alt == current:
                    continue
                trial = self._build({**choices, key: alt})
                self._resolve(trial)
                resolved = trial
                score = self._prunable_units()
                if score > best:
                    best, best_b = score, trial
                    choices[key] = alt
                    break
        if resolved is not best_b:
            self._resolve(best_b)

    def _prunable_units(self) -> int:
        return sum(len(g.atoms) for g in self.groups if g.prunable)

    # -- building --------------------------------------------------------------

    @staticmethod
    def _apply_rule(b: _Builder, op: Operation) -> None:
        c = Coupler(b, op)
        rule = RULES.get(type(op))
        if isinstance(op, ReturnOp):
            reason = "model output"
        elif rule is None:
            reason = "no channel rule"
        else:
            rule(op, c)
            reason = "not carried through"
        for v in (*op.operands, *op.results):
            for d in range(len(_shape(v))):
                if (id(v), d) not in c.mentioned:
                    c.forbid(v, d, reason)

    def _resolve(self, b: _Builder) -> None:
        # axes: classes of (value, dim)
        self.axis_index: dict[tuple[int, int], int] = {}
        roots: dict[DimRef, int] = {}
        self.axis_size: list[int] = []
        self.axis_dims: list[list[DimRef]] = []
        for v in self.values:
            for d, n in enumerate(self._shape(v)):
                r = b.dims.find((v, d))
                if r not in roots:
                    roots[r] = len(self.axis_size)
                    self.axis_size.append(n)
                    self.axis_dims.append([])
                a = roots[r]
                self.axis_index[(id(v), d)] = a
                self.axis_dims[a].append((v, d))
        self.forbidden: dict[int, str] = {}
        for (v, d), reason in b.forbidden.items():
            self.forbidden.setdefault(self.axis(v, d), reason)
        # atoms: classes of (axis, index)
        uf = _UnionFind()
        touched: dict[int, set[int]] = defaultdict(set)
        for ra, ia, rb, ib in b.pairs:
            a, bb = self.axis(*ra), self.axis(*rb)
            uf.union((a, ia), (bb, ib))
            touched[a].add(ia)
            touched[bb].add(ib)
        self.producers = b.producers
        self.carriers = dict(b.choices)
        self._atoms_uf, self._touched = uf, touched
        self.groups = self._make_groups()

    # -- queries ---------------------------------------------------------------

    def axis(self, value: SSAValue, dim: int) -> int:
        """The axis of ``value``'s dim ``dim``."""
        return self.axis_index[(id(value), dim)]

    def _collect_atoms(self, seed_axes: Iterable[int]) -> list[dict[int, list[int]]]:
        """Atoms reachable from ``seed_axes``, each as ``{axis: [indices]}``."""
        uf, touched = self._atoms_uf, self._touched
        members_of: dict = defaultdict(list)
        for key in list(uf.parent):
            members_of[uf.find(key)].append(key)
        atoms: list[dict[int, list[int]]] = []
        done: set = set()
        pending, seen = list(seed_axes), set()
        while pending:
            axis = pending.pop()
            if axis in seen:
                continue
            seen.add(axis)
            linked = touched.get(axis, ())
            for i in range(self.axis_size[axis]):
                if i not in linked:
                    atoms.append({axis: [i]})
                    continue
                root = uf.find((axis, i))
                if root in done:
                    continue
                done.add(root)
                slices: dict[int, list[int]] = defaultdict(list)
                for a2, i2 in members_of[root]:
                    slices[a2].append(i2)
                    if a2 not in seen:
                        pending.append(a2)
                atoms.append(slices)
        return atoms

    def _make_groups(self) -> list[ChannelGroup]:
        producer_axes = {self.axis(*p.out) for p in self.producers}
        by_sig: dict[frozenset[int], list[dict[int, list[int]]]] = defaultdict(list)
        for slices in self._collect_atoms(producer_axes):
            sig = frozenset(slices)
            if sig & producer_axes:
                by_sig[sig].append(slices)
        order = {id(op): i for i, op in enumerate(self.ops)}
        op_axes = [(op, {self.axis(v, d) for v in (*op.operands, *op.results)
                         for d in range(len(self._shape(v)))}) for op in self.ops]
        groups: list[tuple[int, ChannelGroup]] = []
        for sig, members in by_sig.items():
            prods = sorted((p for p in self.producers if self.axis(*p.out) in sig),
                           key=lambda p: order[id(p.op)])
            rep = prods[0]
            rep_axis = self.axis(*rep.out)
            members.sort(key=lambda s: min(s.get(rep_axis, [1 << 60])))
            reasons = [self.forbidden[a] for a in sorted(sig) if a in self.forbidden]
            on = [op for op, axes in op_axes if not axes.isdisjoint(sig)]
            groups.append((order[id(rep.op)], ChannelGroup(
                index=0, representative=_label(rep.op), axes=sig,
                atoms=[Atom({a: tuple(sorted(ix)) for a, ix in s.items()}) for s in members],
                rep_axis=rep_axis, producers=[_label(p.op) for p in prods],
                members=[_label(op) for op in on
                         if isinstance(op, dag.DagOp) and not isinstance(op, dag.ConstantOp)],
                params=[_label(op) for op in on if isinstance(op, dag.ConstantOp)],
                prunable=not reasons and len(members) > 1,
                reason=reasons[0] if reasons else ("a single unit" if len(members) <= 1 else ""),
            )))
        groups.sort(key=lambda t: t[0])
        for i, (_, g) in enumerate(groups):
            g.index = i
        return [g for _, g in groups]

    def _shape(self, v: SSAValue) -> tuple[int, ...]:
        shape = self._shapes.get(id(v))
        if shape is None:
            shape = self._shapes[id(v)] = _shape(v)
        return shape

    def kept(self, value: SSAValue, dim: int, removed: dict[int, set[int]]) -> list[int]:
        """Indices of ``value``'s dim ``dim`` that survive ``removed``
        (``axis -> removed indices``)."""
        gone = removed.get(self.axis(value, dim), ())
        return [i for i in range(_shape(value)[dim]) if i not in gone]

    def dims_on(self, axis: int) -> list[DimRef]:
        """The ``(value, dim)`` pairs of an axis."""
        return self.axis_dims[axis]

    def prunable_groups(self) -> list[ChannelGroup]:
        """The groups that may lose channels."""
        return [g for g in self.groups if g.prunable]

    def table(self):
        """A ``rich.table.Table`` of the groups: representative, channels, units,
        producers and why a group is kept."""
        from rich.table import Table

        t = Table(title="channel groups")
        for col in ("#", "representative", "channels", "units", "producers", "prunable"):
            t.add_column(col, justify="right" if col in ("#", "channels", "units") else "left")
        for g in self.groups:
            prods = ", ".join(g.producers[:3]) + (f" +{len(g.producers) - 3}"
                                                  if len(g.producers) > 3 else "")
            t.add_row(str(g.index), g.representative, str(g.channels), str(len(g.atoms)),
                      prods, "yes" if g.prunable else f"no: {g.reason}")
        return t

    def render(self, width: int = 140) -> str:
        """The table as plain text."""
        from dagc.passes.analysis import render_table

        return render_table(self.table(), width)


def channel_groups(module) -> ChannelAnalysis:
    """The channel groups of ``module``'s entry function (a :class:`dagc.ir.Module`
    or a ``builtin.module``); see the module docstring for the rules."""
    from dagc.passes.analysis import _entry

    return ChannelAnalysis(_entry(module)[1])
