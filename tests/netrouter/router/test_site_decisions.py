"""Draining a site: no new work in the solver's model, --move, rebalance, restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from netrouter.client.errors import FailedPreconditionError, NotFoundError
from netrouter.router.core import Router
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from tests.helpers.factories import report_of, site_config, workload


def _registry(near_h100: int = 16) -> SiteRegistry:
    """'cheap' (16 H100, far) and 'near' (dear): work without an SLO prefers 'cheap'."""
    registry = SiteRegistry()
    registry.apply_report(
        report_of(site_config("cheap", price=0.3, h100=16, latency={"csj": 20.0}))
    )
    registry.apply_report(
        report_of(site_config("near", price=1.0, h100=near_h100, latency={"csj": 3.0}))
    )
    return registry


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[Router]:
    store = PlacementStore(tmp_path / "r.db")
    async with Router(registry=_registry(), store=store) as router:
        yield router
    store.close()


async def test_a_drained_site_takes_no_new_work_in_the_solvers_model(router: Router) -> None:
    """One workload and a batch both go elsewhere; the drained site is an alternative the
    work did not get because it is drained, so the solver saw it."""
    (before,) = (await router.place([workload("probe")], dry_run=True)).placements
    assert before.site_id == "cheap"
    result = await router.drain_site("cheap", reason="maintenance")
    assert result.site.drained and result.site.drain_reason == "maintenance"
    assert result.site.drained_at > 0 and result.site.up
    assert result.moved == () and result.stayed == ()
    (one,) = (await router.place([workload("one")])).placements
    assert one.site_id == "near"
    assert [(a.site_id, a.reason_kind) for a in one.alternatives] == [("cheap", "drained")]
    batch = await router.place([workload(f"b{i}", demands={"H100": 4}) for i in range(3)])
    assert {p.site_id for p in batch.placements} == {"near"}
    full = await router.place([workload("big", demands={"H100": 16})])
    assert full.placements == () and "drained" in full.queued[0].explanation
    view = router.sites_view()
    assert [s.id for s in view.sites if s.drained] == ["cheap"]


async def test_drained_sites_show_and_undrain_puts_them_back(router: Router) -> None:
    """The view says drained; undrain takes work again; undraining twice is refused; an
    unknown site names the known ones."""
    await router.drain_site("cheap")
    views = {v.site_id: v for v in await router.list_sites()}
    assert views["cheap"].drained and not views["near"].drained
    undrained = await router.undrain_site("cheap")
    assert not undrained.drained and undrained.drained_at == 0.0
    (p,) = (await router.place([workload("back")])).placements
    assert p.site_id == "cheap"
    with pytest.raises(FailedPreconditionError, match="site cheap is not drained"):
        await router.undrain_site("cheap")
    with pytest.raises(NotFoundError, match=r"'nowhere' is not known \(known sites: cheap, near\)"):
        await router.drain_site("nowhere")
    with pytest.raises(NotFoundError, match="known sites: cheap, near"):
        await router.undrain_site("nowhere")


async def test_a_drain_keeps_running_work_unless_move(router: Router) -> None:
    """Without move the work stays; draining again with move moves it off in one batch,
    each move an event saying why."""
    placed = (
        await router.place([workload(f"w{i}", demands={"H100": 4}) for i in range(2)])
    ).placements
    assert {p.site_id for p in placed} == {"cheap"}
    first = await router.drain_site("cheap", reason="first")
    assert first.moved == () and {p.site_id for p in router.active_placements()} == {"cheap"}
    again = await router.drain_site("cheap", move=True, reason="second")
    assert again.site.drain_reason == "first"  # the first drain stands
    assert sorted(m.placement_id for m in again.moved) == sorted(p.placement_id for p in placed)
    assert {(m.from_site_id, m.to_site_id) for m in again.moved} == {("cheap", "near")}
    assert all(m.placement.updated_at > 0 for m in again.moved)
    assert again.stayed == ()
    assert {p.site_id for p in router.active_placements()} == {"near"}
    events = router.store.events_after(0)
    assert [e.kind for e in events[-2:]] == ["moved", "moved"]
    assert all(e.reason.startswith("drain: cheap is drained") for e in events[-2:])


async def test_work_that_fits_nowhere_stays_and_the_answer_says_so(tmp_path: Path) -> None:
    """With room elsewhere for one of two jobs, one moves and the other stays, named."""
    store = PlacementStore(tmp_path / "r.db")
    async with Router(registry=_registry(near_h100=8), store=store) as router:
        placed = (await router.place([workload(f"w{i}") for i in range(2)])).placements
        assert {p.site_id for p in placed} == {"cheap"}
        result = await router.drain_site("cheap", move=True)
        assert len(result.moved) == 1 and result.moved[0].to_site_id == "near"
        (stay,) = result.stayed
        kept = next(p for p in placed if p.workload_id == stay.workload_id)
        assert stay.reason.startswith(f"{kept.placement_id} stays on cheap: nowhere to go")
        assert {p.site_id for p in router.active_placements()} == {"cheap", "near"}
    store.close()


async def test_rebalance_moves_work_off_a_drained_site(router: Router) -> None:
    """A rebalance proposes moving a drained site's work whatever it saves, and moves it."""
    (p,) = (await router.place([workload("w")])).placements
    await router.drain_site("cheap")
    proposed = await router.rebalance()
    (move,) = proposed.moves
    assert (move.placement_id, move.to_site_id) == (p.placement_id, "near")
    assert move.saving_yuan < 0 and "cheap is drained" in move.reason
    done = await router.rebalance(commit=True)
    assert [m.placement_id for m in done.moves] == [p.placement_id]
    assert router.active_placements()[0].site_id == "near"


async def test_a_drain_survives_a_restart(tmp_path: Path) -> None:
    """The drain is in the store: a new router over the same file starts with it, before
    and after the site reports again; an undrain is durable too."""
    db = tmp_path / "r.db"
    store = PlacementStore(db)
    async with Router(registry=_registry(), store=store) as router:
        drained = await router.drain_site("cheap", reason="maintenance")
    store.close()
    store = PlacementStore(db)
    registry = SiteRegistry()
    async with Router(registry=registry, store=store) as router:
        assert registry.drained() == {"cheap"}
        for report in _registry().reports():
            registry.apply_report(report)
        view = {v.site_id: v for v in router.site_views()}["cheap"]
        assert view.drained and view.drain_reason == "maintenance"
        assert view.drained_at == drained.site.drained_at
        (p,) = (await router.place([workload("w")])).placements
        assert p.site_id == "near"
        await router.undrain_site("cheap")
    store.close()
    store = PlacementStore(db)
    async with Router(registry=_registry(), store=store) as router:
        assert not any(v.drained for v in router.site_views())
    store.close()
