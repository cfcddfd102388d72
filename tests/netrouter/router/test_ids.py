"""Placement ids by unique prefix, resolved by the router over every stored placement."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from netrouter.client.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from netrouter.client.types import ACTIVE, RELEASED
from netrouter.router.core import Router, RouterSettings
from netrouter.router.ids import utc_time
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from tests.helpers.factories import placement, report_of, site_config, workload

PAGE = 3
"""The routers here list this many placements a page: fewer than they hold."""


def _store(path: Path) -> PlacementStore:
    """Placements 'abcd0001' (active), 'abcd0002' (released), 'abce0003' (active) and nine
    more active ones, 'f0000000'..'f0000008', so they fill several pages."""
    store = PlacementStore(path)
    now = time.time()
    ids = ["abcd0001", "abcd0002", "abce0003", *(f"f000000{i}" for i in range(9))]
    store.add([placement(pid, devices=1, created_at=now) for pid in ids])
    store.release(["abcd0002"], reason="job finished early")
    return store


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[Router]:
    registry = SiteRegistry()
    registry.apply_report(report_of(site_config("west", price=0.3, h100=64)))
    store = _store(tmp_path / "r.db")
    async with Router(
        registry=registry, store=store, settings=RouterSettings(default_page_size=PAGE)
    ) as router:
        yield router
    store.close()


def test_the_store_finds_ids_by_prefix_in_any_state(tmp_path: Path) -> None:
    """A prefix query returns the first matches by id and how many there are in all."""
    store = _store(tmp_path / "s.db")
    found, count = store.with_prefix("abcd", 6)
    assert [(p.placement_id, p.state) for p in found] == [
        ("abcd0001", ACTIVE),
        ("abcd0002", RELEASED),
    ]
    assert count == 2
    found, count = store.with_prefix("f0", 2)
    assert [p.placement_id for p in found] == ["f0000000", "f0000001"] and count == 9
    assert store.with_prefix("abcf", 6) == ([], 0)
    assert store.with_prefix("ab%", 6) == ([], 0)  # no pattern characters
    store.close()


async def test_a_unique_prefix_names_its_placement(router: Router) -> None:
    """Get and Release take any unique prefix, past the first page of placements."""
    page, token = await router.list_placements()
    assert len(page) == PAGE and token  # more placements than one page holds
    assert (await router.get_placement("f0000008")).placement_id == "f0000008"
    assert (await router.get_placement("abce")).placement_id == "abce0003"
    assert (await router.get_placement("abcd0002")).state == RELEASED  # ended ones too
    (released,) = await router.release(["abce"])
    assert released.placement_id == "abce0003" and released.state == RELEASED
    assert (await router.get_placement("abce00")).state == RELEASED


async def test_an_ambiguous_prefix_is_refused_listing_the_matches(router: Router) -> None:
    """A prefix of an active and a released id is ambiguous, not the active one; the error
    names the field and lists the matches with their states; nothing is released."""
    with pytest.raises(InvalidArgumentError) as info:
        await router.release(["f0000008", "abce0003", "abcd"])
    assert info.value.field == "placement_ids[2]"
    assert "'abcd' is ambiguous" in info.value.message
    assert "abcd0001 active" in info.value.message
    assert "abcd0002 released" in info.value.message
    assert router.active_count == 11  # all or none
    with pytest.raises(InvalidArgumentError) as info:
        await router.get_placement("f000")
    assert info.value.field == "placement_id"
    assert "starts 9 placement ids" in info.value.message
    assert "f0000004" in info.value.message and "and 4 more" in info.value.message
    assert "f0000005" not in info.value.message


async def test_unknown_short_and_empty_ids_are_told_apart(router: Router) -> None:
    """An unknown id is not found; a prefix under 4 characters is too short; empty is empty."""
    with pytest.raises(NotFoundError, match="placement 'abcf' not found"):
        await router.release(["abcd0001", "abcf"])
    with pytest.raises(NotFoundError, match="placement 'nope-nope' not found"):
        await router.get_placement("nope-nope")
    with pytest.raises(InvalidArgumentError) as info:
        await router.release(["abc"])
    assert info.value.field == "placement_ids[0]" and "at least 4" in info.value.message
    with pytest.raises(InvalidArgumentError) as info:
        await router.get_placement("")
    assert info.value.field == "placement_id"
    assert router.active_count == 11


async def test_an_ended_placement_says_when_and_why(router: Router) -> None:
    """Releasing a released placement is refused with its time and reason, and releases
    nothing else of the batch."""
    ended = await router.get_placement("abcd0002")
    with pytest.raises(FailedPreconditionError) as info:
        await router.release(["f0000001", "abcd0002"])
    assert str(info.value) == (
        f"placement 'abcd0002' was released at {utc_time(ended.updated_at)} (job finished early)"
    )
    assert re.search(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", str(info.value))
    assert (await router.get_placement("f0000001")).state == ACTIVE


async def test_two_names_of_one_placement_are_a_duplicate(router: Router) -> None:
    """The whole id and a prefix of it in one release are the same placement twice."""
    with pytest.raises(InvalidArgumentError) as info:
        await router.release(["abce0003", "abce"])
    assert info.value.field == "placement_ids[1]"
    assert "'abce' (as 'abce0003')" in info.value.message
    with pytest.raises(InvalidArgumentError, match="duplicate id 'abce0003'"):
        await router.release(["abce0003", "abce0003"])


async def test_a_placed_id_resolves_by_its_first_characters(router: Router) -> None:
    """What Place hands out (hex uuids) resolves by the 12 characters a table shows."""
    (p,) = (await router.place([workload("fresh", demands={"H100": 1})])).placements
    assert (await router.get_placement(p.placement_id[:12])) == p
    (released,) = await router.release([p.placement_id[:6]])
    assert released.placement_id == p.placement_id
