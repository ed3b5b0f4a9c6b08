"""
`convert-to-llvm`: the whole standard-dialect -> llvm-dialect lowering, as one
pipeline of the single-edge passes (no conversion logic of its own):

    dagc-parallel-to-threads{threads=1} (the `scf.parallel` loops left -> `scf.for`),
    convert-scf-to-cf (xDSL's patterns),
    convert-math-to-llvm + convert-arith-to-llvm + convert-memref-to-llvm +
        convert-cf-to-llvm (their patterns in one walk),
    convert-func-to-llvm, reconcile-unrealized-casts (xDSL's pattern)

followed by a check that only llvm ops are left. Every walk is one walk of
`pattern_dispatch.apply_patterns`: xDSL's passes for scf -> cf and the casts walk
the module again after a walk that changed it, and find nothing more to do here
(the scf bodies are moved into the blocks of their parent, not copied, and are
visited in the same walk; a cast chain is removed when its first cast is visited). The four edges of the one walk
lower disjoint ops and meet only at `builtin.unrealized_conversion_cast`s, so one
walk gives the same IR after `reconcile-unrealized-casts` as four (the same
ResNet-50 LLVM IR, byte for byte) and saves three walks of the module (~30,000
ops for a ResNet-50).
"""

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import RewritePattern
from xdsl.transforms.convert_scf_to_cf import ForLowering, IfLowering, SwitchLowering
from xdsl.transforms.reconcile_unrealized_casts import ReconcileUnrealizedCastsPattern
from xdsl.utils.exceptions import DiagnosticException

from dagc.lowering.arith_to_llvm import ConvertArithToLLVMPass
from dagc.lowering.cf_to_llvm import ConvertCfToLLVMPass
from dagc.lowering.func_to_llvm import ConvertFuncToLLVMPass
from dagc.lowering.llvm_types import PatternLoweringPass
from dagc.lowering.pattern_dispatch import apply_patterns, preorder
from dagc.lowering.math_to_llvm import ConvertMathToLLVMPass
from dagc.lowering.memref_to_llvm import ConvertMemRefToLLVMPass
from dagc.lowering.parallel_to_threads import ParallelToThreadsPass


@dataclass(frozen=True)
class _OneWalkPass(ModulePass):
    """The patterns of several single-edge passes, applied in one walk."""

    name = "dagc-std-to-llvm-one-walk"

    edges: tuple[PatternLoweringPass, ...]

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns: list[RewritePattern] = []
        for edge in self.edges:
            patterns += edge.patterns(op)
        apply_patterns(op, patterns)


@dataclass(frozen=True)
class _PatternWalkPass(ModulePass):
    """Fixed patterns applied in one walk (`pattern_dispatch.apply_patterns`)."""

    name = "dagc-pattern-walk"

    patterns: tuple[RewritePattern, ...]
    dce: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        apply_patterns(op, self.patterns, dce=self.dce)


PIPELINE: tuple[ModulePass, ...] = (
    ParallelToThreadsPass(threads=1),
    _PatternWalkPass((SwitchLowering(), IfLowering(), ForLowering())),
    _OneWalkPass(
        (
            ConvertMathToLLVMPass(),
            ConvertArithToLLVMPass(),
            ConvertMemRefToLLVMPass(),
            ConvertCfToLLVMPass(),
        )
    ),
    ConvertFuncToLLVMPass(),
    _PatternWalkPass((ReconcileUnrealizedCastsPattern(warn_on_failure=True),), dce=False),
)
"""The passes `convert-to-llvm` runs, in order."""


def check_llvm_only(module: ModuleOp) -> None:
    """
    Raise a DiagnosticException naming the first op of `module` that is not in the
    llvm dialect (an op no edge lowered, or a cast left between two types that no
    edge converted).
    """
    for op in preorder(module):
        if op.name.startswith("llvm."):
            continue
        raise DiagnosticException(f"'{op.name}' was not lowered to llvm:\n{op}")


@dataclass(frozen=True)
class ConvertToLLVMPass(ModulePass):
    """
    Lower scf/cf/arith/math/memref/func with static shapes to the llvm dialect.

    Raises:
        DiagnosticException: when an op is left that no edge lowers.
    """

    name = "convert-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for lowering in PIPELINE:
            lowering.apply(ctx, op)
        check_llvm_only(op)
