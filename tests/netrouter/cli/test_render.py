"""Tables and text of the CLI's results, printed to a console in memory."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType

from netrouter.cli.demo import DemoReport, PolicyTotals, SiteRow
from netrouter.cli.render import (
    event_line,
    place_summary,
    placements_table,
    print_demo,
    print_whatif,
    queue_table,
    rebalance_summary,
    sites_table,
    summary_rows,
    unplaced_table,
)
from netrouter.client.types import (
    PlacementEvent,
    PlaceResult,
    RebalanceResult,
    SolveInfo,
    Unplaced,
)
from netrouter.router.queue import queued
from tests.helpers.factories import flagged_site_view, placement, whatif_report, workload

SOLVE = SolveInfo(
    objective=1234.5, bound=1234.0, gap=0.0004, status="OPTIMAL", wall_s=0.25, method="cp-sat"
)


def _text(renderable: RenderableType) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=140).print(renderable)
    return buffer.getvalue()


def _totals(cost: float, placed: int) -> PolicyTotals:
    return PolicyTotals(
        placed=placed,
        unplaced=10 - placed,
        energy_cost_yuan=cost,
        cost_per_hour_yuan=cost / 4,
        energy_kwh=900.0,
        carbon_kg=500.0,
        west_share=0.75,
    )


def _demo_report() -> DemoReport:
    row = SiteRow(
        site_id="guian",
        side="west",
        pue=1.18,
        price_now=0.3512,
        devices={"H100": 16, "A100": 8},
        workloads=9,
        cost_per_hour_yuan=42.5,
        energy_kwh=812.0,
    )
    return DemoReport(
        workloads={"training": 6, "inference": 3},
        rows=[row],
        optimizer=_totals(750.0, 9),
        nearest=_totals(1000.0, 8),
        solve_status="OPTIMAL",
        solve_gap=0.0,
        solve_wall_s=0.5,
        elapsed_s=12.0,
    )


def test_unplaced_table_gives_each_workload_its_reason_and_penalty() -> None:
    """Every unplaced workload is listed with why it was left out and what that costs."""
    left = Unplaced(workload_id="w-7", reason="no H100 free in csj", penalty_yuan=1234.5)
    text = _text(unplaced_table([left]))
    assert "Unplaced" in text and "penalty 元" in text
    assert "w-7" in text and "no H100 free in csj" in text and "1,234.50" in text


def test_placements_table_shows_why_ended_ones_ended_and_planned_rows_have_no_id() -> None:
    """An evicted placement shows its end reason; a dry run's row shows '-' for its id."""
    evicted = placement(
        "0123456789abcdef", workload_id="w1", state="evicted", end_reason="site east down"
    )
    planned = placement("", workload_id="w2", state="planned")
    text = _text(placements_table([evicted, planned]))
    assert "0123456789ab" in text and "0123456789abc" not in text  # 12 characters shown
    assert "site east down" in text and "evicted" in text
    assert "planned" in text and "│ -" in text


def test_place_summary_of_a_commit() -> None:
    """A committed placement reports counts, solver status, objective and gap."""
    result = PlaceResult(placements=(), unplaced=(), solve=SOLVE, dry_run=False)
    assert place_summary(result) == (
        "0 placed, 0 unplaced; cp-sat OPTIMAL, objective 1,234.50 元, gap 0.0400%, 0.25 s"
    )


def test_queued_work_shows_its_place_in_line_what_it_needs_and_why_it_waits() -> None:
    """The queue table numbers the work in the order given, with its priority, what it
    needs, how long it has waited and why; a queued event names no site."""
    first = queued(
        workload("big", demands={"H100": 16, "A100": 32}, priority=3),
        placement_id="q" * 32,
        reason="no feasible site: 8 H100 free, 16 needed at west",
        now=1_000.0,
    )
    second = queued(workload("small"), placement_id="r" * 32, reason="full", now=5_000.0)
    text = _text(queue_table([first, second], now=8_600.0))
    assert "│ 1 │ qqqqqqqqqqqq │ big" in text and "16 H100 or 32 A100" in text
    assert "2.1 h" in text and "60 min" in text
    assert "waits: no feasible site: 8 H100 free, 16 needed at west" in text
    line = event_line(
        PlacementEvent(event_id=4, kind="queued", placement=first, from_site_id="", at=0.0)
    )
    assert line.endswith("queued   qqqqqqqqqqqq big needs 16 H100 or 32 A100  " + first.explanation)
    result = PlaceResult(placements=(), unplaced=(), solve=SOLVE, dry_run=False, queued=(first,))
    assert place_summary(result).startswith("0 placed, 1 queued, 0 unplaced; ")


def test_place_summary_marks_a_dry_run() -> None:
    """A dry run says that nothing was committed."""
    result = PlaceResult(placements=(), unplaced=(), solve=SOLVE, dry_run=True)
    assert place_summary(result).startswith("DRY RUN: nothing committed. ")


def test_rebalance_summary_marks_proposals() -> None:
    """Moves not committed are a dry run that names --commit; committed ones are not."""
    proposed = RebalanceResult(
        moves=(), saving_yuan=12.0, committed=False, solve=SOLVE, candidates=3
    )
    done = RebalanceResult(moves=(), saving_yuan=12.0, committed=True, solve=SOLVE, candidates=3)
    assert rebalance_summary(proposed).startswith("DRY RUN: nothing moved (--commit to move). ")
    assert rebalance_summary(done).startswith("0 moves made, saving 12.00 元 (3 more would")
    nothing = RebalanceResult(moves=(), saving_yuan=0.0, committed=True, solve=SOLVE, candidates=0)
    assert rebalance_summary(nothing).startswith("0 moves made, saving 0.00 元; cp-sat")


def test_demo_prints_sites_policies_and_saving() -> None:
    """The demo shows each site's devices, both policies and the optimizer's saving."""
    buffer = io.StringIO()
    print_demo(Console(file=buffer, width=140), _demo_report())
    text = buffer.getvalue()
    assert "guian" in text and "8 A100, 16 H100" in text
    assert "netrouter optimizer" in text and "nearest site" in text
    assert "Workloads: 3 inference, 6 training. Optimizer saves 25.0%" in text


def test_summary_rows_put_each_state_in_a_column() -> None:
    """The headers name the baseline and each scenario; each row formats one figure."""
    headers, rows = summary_rows(whatif_report(moves=0))
    assert headers == ["", "baseline", "guian-outage"]
    assert rows[0] == ["cost / hour, 元", "10.00", "12.00"]
    assert ["west share of devices", "75.0%", "50.0%"] in rows


def test_whatif_lists_moves_up_to_the_limit() -> None:
    """Each scenario's first moves are listed and the rest counted."""
    buffer = io.StringIO()
    print_whatif(Console(file=buffer, width=140), whatif_report(moves=3), show_moves=2)
    text = buffer.getvalue()
    assert "guian-outage: cost/day +48.00 元" in text
    assert "w0" in text and "w1" in text and "w2" not in text
    assert "… 1 more (--show-moves, --json)" in text


def test_sites_table_shows_free_nodes_and_work_the_site_does_not_agree_on() -> None:
    """A shaped model reads '19/24 (2 whole of 8, 1×3)'; a site that sees placement ids
    lists ours it does not show and ids it runs that the router does not know."""
    view = flagged_site_view()
    text = " ".join(_text(sites_table([view])).split())
    assert "H100 19/24 (2 whole of 8, 1×3)" in text
    assert "2 placed, not running: p1, p2" in text
    assert "1 running, unknown to the router: stray" in text
