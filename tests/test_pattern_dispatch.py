"""`lowering/pattern_dispatch.py`: one walk of patterns dispatched by op class gives
the IR of xDSL's greedy walker (apply_recursively=False)."""

import pytest
from xdsl.dialects import arith
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

import dagc
from dagc.lowering.pattern_dispatch import apply_patterns, matched_op_types, preorder

SOURCE = """
func.func @f(%a: i32, %b: i32, %c: i1) -> i32 {
  %dead = arith.constant 7 : i32
  %s = arith.addi %a, %b : i32
  %m = arith.muli %s, %b : i32
  %r = scf.if %c -> (i32) {
    %t = arith.addi %m, %m : i32
    scf.yield %t : i32
  } else {
    scf.yield %m : i32
  }
  %unused = arith.subi %r, %a : i32
  func.return %r : i32
}
"""


class AddToSub(RewritePattern):
    """`addi` -> `subi` (each new `subi` would be rewritten again if visited)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.AddiOp, rewriter: PatternRewriter, /):
        rewriter.replace(op, arith.SubiOp(op.lhs, op.rhs))


class SubOrMulToAdd(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.SubiOp | arith.MuliOp, rewriter: PatternRewriter, /):
        rewriter.replace(op, arith.AddiOp(op.lhs, op.rhs))


class Untyped(RewritePattern):
    """Matches by a check of its own: given every op."""

    seen: list[str]

    def __init__(self):
        self.seen = []

    def match_and_rewrite(self, op, rewriter):
        self.seen.append(op.name)


def _parse():
    return dagc.parse(SOURCE)


def test_matched_op_types():
    assert matched_op_types(AddToSub()) == (arith.AddiOp,)
    assert matched_op_types(SubOrMulToAdd()) == (arith.SubiOp, arith.MuliOp)
    assert matched_op_types(Untyped()) is None


def test_preorder_is_walk_order():
    module = _parse().op
    assert list(preorder(module)) == list(module.walk())[1:]


def test_same_ir_as_greedy_walker():
    patterns = [AddToSub(), SubOrMulToAdd()]
    ours, theirs = _parse(), _parse()
    assert apply_patterns(ours.op, patterns)
    PatternRewriteWalker(
        GreedyRewritePatternApplier(patterns), apply_recursively=False
    ).rewrite_module(theirs.op)
    text = ours.to_text()
    assert text == theirs.to_text()
    # The dead constant and subi are erased; rewritten ops are not visited again
    # (the addi became subi and stays so, the muli became addi).
    assert "arith.constant" not in text and "%unused" not in text
    assert text.count("arith.subi") == 2 and text.count("arith.addi") == 1


def test_no_dce_same_ir_as_single_pattern_walker():
    ours, theirs = _parse(), _parse()
    apply_patterns(ours.op, [SubOrMulToAdd()], dce=False)
    PatternRewriteWalker(SubOrMulToAdd(), apply_recursively=False).rewrite_module(theirs.op)
    text = ours.to_text()
    assert text == theirs.to_text()
    assert "arith.constant" in text and "arith.subi" not in text


def test_untyped_pattern_sees_every_op_and_typed_ones_only_theirs():
    untyped = Untyped()
    module = _parse()
    assert not apply_patterns(module.op, [untyped], dce=False)
    assert untyped.seen == [op.name for op in preorder(module.op)]


def test_pattern_error_is_reported_with_the_ir():
    class Fails(RewritePattern):
        @op_type_rewrite_pattern
        def match_and_rewrite(self, op: arith.MuliOp, rewriter: PatternRewriter, /):
            raise ValueError("cannot lower this multiplication")

    with pytest.raises(ValueError, match="cannot lower this multiplication") as info:
        apply_patterns(_parse().op, [Fails()])
    assert any("Error while applying pattern" in note for note in info.value.__notes__)
