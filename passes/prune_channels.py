"""``dag-prune-channels``: structured channel pruning on the IR.

Channel groups come from :mod:`dagc.passes.channel_groups` (per-op channel rules,
coupled channels pruned together). In every prunable group the least important
units (channels, or whole groups of a grouped conv / group norm) are removed, and
every producer and consumer is sliced consistently: conv and linear output
channels and biases, the next conv/linear input channels (a block of input
features after a flatten), batch-norm statistics, group-norm affine parameters
(and ``num_groups``), depthwise convs (and ``groups``), concat offsets, slice
bounds. The pruned model computes exactly what the original computes with the
removed channels' parameters set to zero (:attr:`PruneReport.masks`).

Importance criteria (per unit, summed over the producers of a coupled group):

- ``l1``: the L1 norm of the producers' filters (Li et al., "Pruning Filters for
  Efficient ConvNets", ICLR 2017);
- ``bn-gamma``: ``|gamma|`` of the batch/group norms on the group's channels
  (Liu et al., "Learning Efficient Convolutional Networks through Network
  Slimming", ICCV 2017); groups without a norm fall back to ``l1``;
- ``scores``: importances from a JSON file ``{"<representative op>": [s0, s1, ...]}``
  with one score per channel of the representative's output (or per unit);
  groups missing from the file are not pruned.

How much: ``ratio`` removes ``floor(ratio * units)`` units of every group;
``flops-target`` (a fraction of the original FLOPs, e.g. 0.5) searches the ratio
(bisection) that brings the FLOPs (see :mod:`dagc.passes.analysis`) to the target.
``min-channels`` and ``round-to`` bound and round the channels kept per group.

Python API: :func:`prune` returns ``(pruned module, PruneReport)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    ModuleOp,
    TensorType,
)
from xdsl.dialects.func import FuncOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from dagc.dialects import dag
from dagc.ir import ResourceStore, resources
from dagc.passes.analysis import _entry, is_parameter, op_cost, render_table
from dagc.passes.channel_groups import ChannelAnalysis, ChannelGroup
from dagc.passes.utils import constant_array, make_constant

CRITERIA = ("l1", "bn-gamma", "scores")

Removed = dict[int, set[int]]
"""``axis -> indices removed`` (axes of a :class:`ChannelAnalysis`)."""


def _shape(v: SSAValue) -> tuple[int, ...]:
    return v.type.get_shape() if isinstance(v.type, TensorType) else ()


# ----------------------------------------------------------------------------
# Importance
# ----------------------------------------------------------------------------


def _producer_l1(op: Operation, store: ResourceStore) -> np.ndarray | None:
    """Per-output-channel L1 norm of a producer's weight (None if not constant)."""
    w = constant_array(op.operands[1], store)
    if w is None:
        return None
    w = np.abs(np.asarray(w, dtype=np.float64))
    if isinstance(op, dag.ConvTranspose2dOp):
        g = op.groups.value.data
        c, fg = w.shape[0], w.shape[1]
        return w.reshape(g, c // g, fg, -1).sum(axis=(1, 3)).reshape(-1)
    return w.reshape(w.shape[0], -1).sum(axis=1)


def _norm_gammas(an: ChannelAnalysis, store: ResourceStore) -> list[tuple[int, np.ndarray]]:
    """``(axis, |gamma|)`` of every batch/group norm of the analysed function."""
    out = []
    for op in an.ops:
        if isinstance(op, (dag.BatchNormOp, dag.GroupNormOp)):
            gamma = constant_array(op.weight, store)
            if gamma is not None:
                out.append((an.axis(op.input, 1), np.abs(np.asarray(gamma, np.float64))))
    return out


def importance(
    an: ChannelAnalysis,
    group: ChannelGroup,
    criterion: str,
    store: ResourceStore,
    scores: Mapping[str, Sequence[float]] | None = None,
) -> np.ndarray | None:
    """One importance per unit (atom) of ``group``; None if the group has no scores.

    Raises:
        ValueError: an unknown criterion, or a score list of the wrong length.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion '{criterion}'; expected one of {CRITERIA}")
    n = len(group.atoms)
    if criterion == "scores":
        s = (scores or {}).get(group.representative)
        if s is None:
            return None
        s = np.asarray(s, dtype=np.float64)
        if len(s) == n:
            return s
        if len(s) == group.channels or len(s) == an.axis_size[group.rep_axis]:
            return np.array([sum(s[i] for i in a.slices.get(group.rep_axis, ()))
                             for a in group.atoms])
        raise ValueError(
            f"scores for '{group.representative}' have {len(s)} values; expected "
            f"{group.channels} (channels) or {n} (units)")
    imp = np.zeros(n)
    if criterion == "bn-gamma":
        norms = [(a, g) for a, g in _norm_gammas(an, store) if a in group.axes]
        for axis, gamma in norms:
            for k, atom in enumerate(group.atoms):
                imp[k] += sum(gamma[i] for i in atom.slices.get(axis, ()))
        if norms:
            return imp
    for p in an.producers:
        axis = an.axis(*p.out)
        if axis not in group.axes:
            continue
        l1 = _producer_l1(p.op, store)
        if l1 is None:
            continue
        for k, atom in enumerate(group.atoms):
            imp[k] += sum(l1[i] for i in atom.slices.get(axis, ()))
    return imp


# ----------------------------------------------------------------------------
# Planning
# ----------------------------------------------------------------------------


def units_to_keep(group: ChannelGroup, ratio: float, min_channels: int = 1,
                  round_to: int = 1) -> int:
    """How many units of ``group`` survive ``ratio`` (channels rounded up to a
    multiple of ``round_to``, at least ``min_channels``, at most all)."""
    n, cpa = len(group.atoms), group.channels_per_atom()
    keep = n - int(math.floor(ratio * n + 1e-9))
    if round_to > 1:
        keep = math.ceil(math.ceil(keep * cpa / round_to) * round_to / cpa)
    keep = max(keep, math.ceil(min_channels / cpa), 1)
    return min(keep, n)


@dataclass
class _Planner:
    an: ChannelAnalysis
    ranks: dict[int, np.ndarray]
    """group index -> unit indices, least important first."""
    min_channels: int = 1
    round_to: int = 1

    def plan(self, ratio: float, only: int | None = None) -> tuple[Removed, dict[int, list[int]]]:
        """Removed slices (per axis) and removed units (per group index)."""
        removed: Removed = {}
        units: dict[int, list[int]] = {}
        for g in self.an.groups:
            if g.index not in self.ranks or (only is not None and g.index != only):
                continue
            keep = units_to_keep(g, ratio, self.min_channels, self.round_to)
            drop = sorted(self.ranks[g.index][: len(g.atoms) - keep].tolist())
            units[g.index] = drop
            for k in drop:
                for axis, idx in g.atoms[k].slices.items():
                    removed.setdefault(axis, set()).update(idx)
        return removed, units


def planned_cost(an: ChannelAnalysis, removed: Removed) -> tuple[int, int]:
    """``(FLOPs, params)`` of the analysed function after removing ``removed``,
    computed from the new shapes without rewriting."""

    def shape(v: SSAValue) -> tuple[int, ...]:
        return tuple(n - len(removed.get(an.axis(v, d), ())) for d, n in enumerate(_shape(v)))

    flops = params = 0
    for op in an.ops:
        if isinstance(op, dag.ConstantOp):
            if is_parameter(op.result):
                params += math.prod(shape(op.result))
            continue
        flops += op_cost(op, [shape(v) for v in op.operands],
                         [shape(v) for v in op.results])[0]
    return flops, params


# ----------------------------------------------------------------------------
# Rewriting
# ----------------------------------------------------------------------------


def _sliced_constant(op: dag.ConstantOp, keep: list[list[int] | None],
                     store: ResourceStore) -> dag.ConstantOp:
    arr = np.asarray(constant_array(op.result, store))
    for d, idx in enumerate(keep):
        if idx is not None:
            arr = np.take(arr, idx, axis=d)
    if isinstance(op.value, DenseResourceAttr):
        return make_constant(store, op.label, arr, op.result.type.element_type)
    ty = TensorType(op.result.type.element_type, arr.shape)
    attr = DenseIntOrFPElementsAttr.from_list(ty, arr.reshape(-1).tolist())
    return dag.ConstantOp.create(result_types=[ty],
                                 properties={"name": op.node_name, "value": attr})


def _new_properties(op: Operation, kept, orig) -> dict:
    """Properties of ``op`` once its operands/results lose channels: ``kept(v, d)``
    gives the surviving indices of a dim, ``orig(v)`` the value before pruning."""
    props = dict(op.properties)

    def size(v: SSAValue, d: int) -> int:
        return _shape(orig(v))[d]

    if isinstance(op, (dag.Conv2dOp, dag.ConvTranspose2dOp)) and op.groups.value.data > 1:
        g = op.groups.value.data
        props["groups"] = dag.int_attr(len(kept(op.input, 1)) // (size(op.input, 1) // g))
    elif isinstance(op, dag.GroupNormOp):
        g = op.num_groups.value.data
        props["num_groups"] = dag.int_attr(len(kept(op.input, 1)) // (size(op.input, 1) // g))
    elif isinstance(op, dag.SliceOp):
        d, start = op.dim.value.data, op.start.value.data
        new_start = sum(1 for i in kept(op.input, d) if i < start)
        props["start"] = dag.int_attr(new_start)
        props["end"] = dag.int_attr(new_start + len(kept(op.result, d)))
    elif isinstance(op, dag.ScaledDotProductAttentionOp) and op.scale is None:
        last = len(_shape(op.query)) - 1
        if len(kept(op.query, last)) != size(op.query, last):
            props["scale"] = dag.float_attr(1.0 / math.sqrt(size(op.query, last)))
    return props


def apply_removal(an: ChannelAnalysis, removed: Removed, store: ResourceStore
                  ) -> dict[str, dict[int, list[int]]]:
    """Rewrite the analysed function in place, removing ``removed`` slices; return
    the removed indices of every sliced constant (``name -> {dim: indices}``)."""
    original: dict[int, SSAValue] = {}  # id(new value) -> the value it replaces

    def orig(v: SSAValue) -> SSAValue:
        return original.get(id(v), v)

    def kept(v: SSAValue, d: int) -> list[int]:
        return an.kept(orig(v), d, removed)

    masks: dict[str, dict[int, list[int]]] = {}
    for op in list(an.ops):
        kept_dims = [[kept(r, d) for d in range(len(_shape(r)))] for r in op.results]
        shrinks = any(len(k) != n for r, ks in zip(op.results, kept_dims)
                      for k, n in zip(ks, _shape(r)))
        retyped = any(o.type != orig(o).type for o in op.operands)
        if isinstance(op, dag.ConstantOp) and shrinks:
            shape = _shape(op.result)
            keep = [k if len(k) != n else None for k, n in zip(kept_dims[0], shape)]
            masks[op.label] = {d: sorted(set(range(n)) - set(k))
                               for d, (k, n) in enumerate(zip(kept_dims[0], shape))
                               if len(k) != n}
            new = _sliced_constant(op, keep, store)
        elif isinstance(op, dag.DagOp) and not isinstance(op, dag.ConstantOp) and (
                shrinks or retyped):
            types = [TensorType(r.type.element_type, [len(k) for k in ks])
                     for r, ks in zip(op.results, kept_dims)]
            new = type(op).create(operands=list(op.operands), result_types=types,
                                  properties=_new_properties(op, kept, orig),
                                  attributes=dict(op.attributes))
        else:
            continue
        for r, nr in zip(op.results, new.results):
            original[id(nr)] = original.get(id(r), r)
        Rewriter.replace_op(op, new)
    return masks


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------


@dataclass
class GroupReport:
    """What pruning did to one channel group."""

    representative: str
    members: list[str]
    params: list[str]
    channels_before: int
    channels_after: int
    flops_saved: int
    """FLOPs saved by pruning this group alone."""
    params_saved: int
    removed: list[int]
    """Removed channels of the representative's output (original numbering)."""
    kept_reason: str = ""
    """Why the group was not pruned (model input/output, forbidden op, ...)."""


@dataclass
class PruneReport:
    """The result of :func:`prune`: per-group changes and totals."""

    groups: list[GroupReport]
    flops_before: int
    flops_after: int
    params_before: int
    params_after: int
    ratio: float
    """The per-group ratio used (searched when a FLOPs target is given)."""
    masks: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    """``constant name -> {dim: removed indices}``: zeroing these slices of the
    original weights gives a model that computes what the pruned one computes."""
    notes: list[str] = field(default_factory=list)

    def table(self, include_kept: bool = False):
        """A ``rich.table.Table``: one row per channel group, and the totals."""
        from rich.table import Table

        from dagc.passes.analysis import _si

        t = Table(title=f"dag-prune-channels (ratio {self.ratio:.3f})", show_footer=True)
        t.add_column("group (representative)", footer="total")
        t.add_column("members", footer="")
        t.add_column("channels", justify="right",
                     footer=f"{sum(g.channels_before for g in self.groups)} -> "
                            f"{sum(g.channels_after for g in self.groups)}")
        t.add_column("FLOPs saved", justify="right",
                     footer=f"{_si(self.flops_before - self.flops_after)} "
                            f"({self.flops_reduction:.1%})")
        t.add_column("params saved", justify="right",
                     footer=f"{_si(self.params_before - self.params_after)} "
                            f"({self.params_reduction:.1%})")
        if include_kept:
            t.add_column("kept because")
        for g in self.groups:
            if g.kept_reason and not include_kept:
                continue
            members = ", ".join(g.members[:4]) + (f" +{len(g.members) - 4}"
                                                  if len(g.members) > 4 else "")
            row = [g.representative, members, f"{g.channels_before} -> {g.channels_after}",
                   _si(g.flops_saved), _si(g.params_saved)]
            t.add_row(*row, *([g.kept_reason] if include_kept else []))
        return t

    @property
    def flops_reduction(self) -> float:
        return 1 - self.flops_after / self.flops_before if self.flops_before else 0.0

    @property
    def params_reduction(self) -> float:
        return 1 - self.params_after / self.params_before if self.params_before else 0.0

    def render(self, include_kept: bool = False, width: int = 140) -> str:
        return render_table(self.table(include_kept), width)

    def __str__(self) -> str:
        return self.render()

    def to_json(self) -> dict:
        """A JSON-serialisable summary (groups, totals, masks)."""
        return {
            "ratio": self.ratio,
            "flops": [self.flops_before, self.flops_after],
            "params": [self.params_before, self.params_after],
            "groups": [g.__dict__ for g in self.groups],
            "masks": {k: {str(d): v for d, v in m.items()} for k, m in self.masks.items()},
            "notes": self.notes,
        }


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------


def load_scores(path: str | Path) -> dict[str, list[float]]:
    """Read a scores file: ``{"<representative op>": [score, ...], ...}``.

    Raises:
        ValueError: the file is not a JSON object of number lists.
    """
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)
        for v in data.values()
    ):
        raise ValueError(f"{path}: expected a JSON object of number lists")
    return data


def prune_module_op(
    ctx: Context,
    module_op: ModuleOp,
    ratio: float = 0.5,
    flops_target: float | None = None,
    criterion: str = "l1",
    scores: Mapping[str, Sequence[float]] | None = None,
    min_channels: int = 1,
    round_to: int = 1,
) -> PruneReport:
    """Prune ``module_op``'s entry function in place (weights go to ``ctx``'s
    resource store); the arguments are those of :func:`prune`."""
    if not 0 <= ratio < 1:
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    if flops_target is not None and not 0 < flops_target <= 1:
        raise ValueError(f"flops-target is a fraction of the FLOPs in (0, 1], got {flops_target}")
    if min_channels < 1 or round_to < 1:
        raise ValueError("min-channels and round-to must be >= 1")
    store = resources(ctx)
    _, func = _entry(module_op)
    an = ChannelAnalysis(func)
    notes: list[str] = []
    if criterion == "scores":
        known = {g.representative for g in an.groups}
        unknown = sorted(set(scores or {}) - known)
        if unknown:
            raise ValueError(f"scores for unknown groups {unknown}; groups are "
                             f"{sorted(known)}")
    ranks: dict[int, np.ndarray] = {}
    for g in an.prunable_groups():
        imp = importance(an, g, criterion, store, scores)
        if imp is None:
            notes.append(f"{g.representative}: no scores, not pruned")
            continue
        ranks[g.index] = np.argsort(imp, kind="stable")
    planner = _Planner(an, ranks, min_channels, round_to)
    flops0, params0 = planned_cost(an, {})
    before = _cost_now(func)  # includes called functions, which are not pruned
    if flops_target is not None:
        ratio = _search_ratio(planner, flops_target * before[0] - (before[0] - flops0), notes)
    removed, units = planner.plan(ratio)
    groups = []
    for g in an.groups:
        drop = units.get(g.index, [])
        removed_channels = sorted(i for k in drop for i in g.atoms[k].slices.get(g.rep_axis, ()))
        f1, p1 = (planned_cost(an, planner.plan(ratio, only=g.index)[0]) if drop
                  else (flops0, params0))
        reason = g.reason if not g.prunable else ("" if g.index in ranks else "no scores")
        groups.append(GroupReport(
            g.representative, g.members, g.params, g.channels,
            g.channels - len(removed_channels), flops0 - f1, params0 - p1,
            removed_channels, reason))
    masks = apply_removal(an, removed, store)
    after = _cost_now(func)
    return PruneReport(groups, before[0], after[0], before[1], after[1], ratio, masks, notes)


def _cost_now(func: FuncOp) -> tuple[int, int]:
    """``(FLOPs, params)`` of the module holding ``func`` (calls expanded)."""
    from dagc.passes.analysis import model_stats

    mod = func.parent_op()
    assert isinstance(mod, ModuleOp)
    s = model_stats(mod)
    return s.flops, s.params


def _search_ratio(planner: _Planner, target: float, notes: list[str]) -> float:
    """The smallest ratio (to 1e-3) whose planned FLOPs are at most ``target``."""
    lo, hi = 0.0, 0.999
    if planned_cost(planner.an, planner.plan(hi)[0])[0] > target:
        notes.append("FLOPs target not reachable; pruned as much as allowed")
        return hi
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        if planned_cost(planner.an, planner.plan(mid)[0])[0] <= target:
            hi = mid
        else:
            lo = mid
    return hi


def prune(
    module,
    ratio: float = 0.5,
    *,
    flops_target: float | None = None,
    criterion: str = "l1",
    scores: Mapping[str, Sequence[float]] | str | Path | None = None,
    min_channels: int = 1,
    round_to: int = 1,
    inplace: bool = False,
):
    """Prune the channels of a :class:`dagc.ir.Module`.

    Args:
        module: the model (its entry function is pruned; calls are kept whole).
        ratio: fraction of the units of every prunable group to remove, in [0, 1).
        flops_target: if given, the fraction (0, 1] of the original FLOPs to keep;
            ``ratio`` is then searched and the argument ignored.
        criterion: ``"l1"``, ``"bn-gamma"`` or ``"scores"`` (module docstring).
        scores: with ``criterion="scores"``: a mapping or a JSON file path,
            representative op name -> one importance per channel (or per unit).
        min_channels: fewest channels a group keeps.
        round_to: channels kept per group are rounded up to a multiple of this.
        inplace: rewrite ``module`` itself instead of a clone.

    Returns:
        ``(pruned module, PruneReport)``.

    Raises:
        ValueError: bad arguments, or scores for unknown groups.
    """
    if isinstance(scores, (str, Path)):
        scores = load_scores(scores)
    m = module if inplace else module.clone()
    report = prune_module_op(m.ctx, m.op, ratio, flops_target, criterion, scores,
                             min_channels, round_to)
    m.verify()
    return m, report


@dataclass(frozen=True)
class PruneChannelsPass(ModulePass):
    """Structured channel pruning of coupled channel groups (see the module doc)."""

    name = "dag-prune-channels"

    ratio: float | int = 0.5
    """Fraction of every group's channels to remove (ignored with flops-target)."""
    flops_target: float | int | None = None
    """Fraction of the original FLOPs to keep; searches the ratio."""
    criterion: str = "l1"
    """``l1``, ``bn-gamma`` or ``scores``."""
    scores_file: str | None = None
    """JSON file of per-channel importances keyed by representative op name."""
    min_channels: int = 1
    """Fewest channels a group keeps."""
    round_to: int = 1
    """Channels kept per group are rounded up to a multiple of this."""
    report_file: str | None = None
    """Write the :class:`PruneReport` there as JSON."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        scores = None
        if self.criterion == "scores":
            if self.scores_file is None:
                raise ValueError("criterion=scores needs scores-file=path.json")
            scores = load_scores(self.scores_file)
        report = prune_module_op(ctx, op, float(self.ratio), self.flops_target,
                                 self.criterion, scores, self.min_channels, self.round_to)
        if self.report_file is not None:
            Path(self.report_file).write_text(json.dumps(report.to_json(), indent=1))
