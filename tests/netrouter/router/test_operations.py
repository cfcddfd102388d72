"""A decision's answer: stamped with the placements as committed, left as is without any."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import FrozenInstanceError, replace

import pytest

from netrouter.client.types import Placement
from netrouter.router.operations import Decision, PlaceOp, RebalanceOp
from tests.helpers.factories import placement, workload


def test_the_answer_carries_the_committed_placements_only_when_there_are_some() -> None:
    draft = (placement("p1"), placement("p2"))

    def stamp(
        result: tuple[Placement, ...], committed: Mapping[str, Placement]
    ) -> tuple[Placement, ...]:
        return tuple(committed.get(p.placement_id, p) for p in result)

    decision = Decision(result=draft, stamp=stamp)
    assert decision.answer({}) is draft
    stored = replace(draft[1], updated_at=42.0)
    answer = decision.answer({"p2": stored})
    assert answer == (draft[0], stored)
    assert answer[1].updated_at == 42.0


def test_without_a_stamp_the_answer_is_the_result() -> None:
    result = {"moved": 0}
    decision = Decision(result=result)
    assert decision.changes == ()
    assert decision.answer({"p1": placement("p1")}) is result


def test_operations_are_frozen_with_their_defaults() -> None:
    op = PlaceOp(workloads=(workload("w"),))
    assert not op.dry_run
    with pytest.raises(FrozenInstanceError):
        op.dry_run = True  # type: ignore[misc]
    assert RebalanceOp() == RebalanceOp(commit=False, max_moves=0, min_saving=0.0)
