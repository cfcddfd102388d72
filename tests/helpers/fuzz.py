"""Fuzz targets: hostile input for every parser at the router's and agent's edges.

Each target pairs a strategy (from :mod:`tests.helpers.strategies`) with a property check shared by
the test suite (tests/test_fuzz.py, a few hundred cases) and ``benchmarks/fuzz.py``
(10,000 cases and more). A check returns ``"accepted"`` or ``"rejected"``; it raises
:class:`StateChanged` when rejected input changed state, and anything else it raises is a
crash: the only errors allowed out of the code under test are its documented ones, and
those must name the field or key at fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
import re
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from netrouter.client import convert
from netrouter.client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    ResourceExhaustedError,
    RouterError,
)
from netrouter.client.scenario import apply, parse_scenario
from netrouter.client.world import ScenarioError, World
from netrouter.contract.broker import BrokerAddress
from netrouter.contract.configfile import ConfigFileError, parse_text
from netrouter.contract.limits import MAX_DEVICES
from netrouter.contract.site_report import (
    PUE_MEAN_COVER_SLACK_S,
    ReportRejectedError,
    SiteReport,
    decode_report,
)
from netrouter.contract.topics import DEFAULT_TOPICS, SITE_ID_PATTERN
from netrouter.planning.network import NetworkModel
from netrouter.planning.problem import report_regions, solver_sites
from netrouter.planning.whatif import solve_world
from netrouter.router.config import RouterConfig, serve_settings
from netrouter.router.core import Router, RouterSettings
from netrouter.router.state import SiteRegistry
from netrouter.router.store import PlacementStore
from netrouter.router.telemetry import Telemetry
from netrouter.v1 import router_pb2 as pb
from site_agents.config import SiteConfig
from site_agents.report import ReportBuilder
from solver import SolverConfig
from tests.helpers import strategies
from tests.helpers.factories import report_of, site_config, site_dict, workload

ACCEPTED = "accepted"
REJECTED = "rejected"


class StateChanged(AssertionError):
    """Rejected input changed state (or was not counted as rejected)."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _unchanged(before: Any, after: Any, what: str) -> None:
    if before != after:
        raise StateChanged(f"rejected input changed {what}")


def _names_a_key(exc: ConfigFileError) -> None:
    # A rule across sections names them in its message ("give [latency_ms] or ...").
    named = exc.key or exc.line or re.search(r"\[\w+\]", exc.message)
    _expect(bool(named), f"error names neither key nor line: {exc}")


M = TypeVar("M")


def _parsed_or_none(text: str, model: type[M], source: str, fmt: str) -> M | None:
    """``text`` parsed as ``model``, or None when refused with an error that names a key."""
    try:
        return parse_text(text, model, source=source, fmt=fmt)
    except ConfigFileError as exc:
        _names_a_key(exc)
        return None


# --- MQTT site reports --------------------------------------------------------------------


def registry_state(registry: SiteRegistry) -> dict[str, Any]:
    """Everything a registry holds (its callables left out), deep-copied for comparison."""
    return copy.deepcopy({k: v for k, v in vars(registry).items() if not callable(v)})


def assert_sane_report(r: SiteReport) -> None:
    """What an accepted report must satisfy: finite numbers in range, and usable by the solver."""
    numbers = {
        "timestamp": r.timestamp,
        "pue": r.pue,
        "price_now": r.price_now_yuan_per_kwh,
        "carbon": r.carbon_kg_per_kwh,
        "interval": r.report_interval_s,
        "pue_age_s": r.pue_age_s,
        "pue_mean": r.pue_mean,
        "pue_mean_window_s": r.pue_mean_window_s,
        "pue_mean_covered_s": r.pue_mean_covered_s,
        "latitude": r.labels.latitude,
        "longitude": r.labels.longitude,
        "pue_cap": r.labels.pue_cap,
        **{f"tariff[{i}]": p for i, p in enumerate(r.next_24h_yuan_per_kwh)},
        **{f"{a.model}.power_w": a.power_w for a in r.accelerators},
        **{f"latency[{x.region}]": x.rtt_ms for x in r.latencies},
    }
    for name, value in numbers.items():
        _expect(math.isfinite(value) and value >= -180, f"accepted {name}={value}")
    _expect(r.pue >= 1.0 and r.report_interval_s > 0 and r.pue_age_s >= 0, "accepted bad pue")
    _expect(r.pue_mean == 0 or 1 <= r.pue_mean <= 3, f"accepted pue_mean {r.pue_mean}")
    _expect(
        0 <= r.pue_mean_covered_s <= r.pue_mean_window_s + PUE_MEAN_COVER_SLACK_S,
        f"accepted pue_mean_covered_s {r.pue_mean_covered_s} of {r.pue_mean_window_s}",
    )
    _expect(abs(r.labels.latitude) <= 90 and abs(r.labels.longitude) <= 180, "accepted bad lat/lon")
    _expect(
        r.labels.pue_cap == 0 or 1 <= r.labels.pue_cap <= 3, f"accepted pue_cap {r.labels.pue_cap}"
    )
    for a in r.accelerators:
        _expect(0 <= a.in_use_by_others <= a.healthy <= a.total <= MAX_DEVICES, "accepted counts")
    solver_sites([r], NetworkModel(), fresh=[r], regions=report_regions([r]), now=r.timestamp)


class ReportTarget:
    """``Telemetry.handle`` on a registry that already holds one good report of ``alpha``."""

    site_id = "alpha"

    def __init__(self) -> None:
        builder = ReportBuilder(site_config(self.site_id, interval_s=60.0))
        self.seed = builder.build().SerializeToString()
        self.base = builder.build()  # the next valid report: a newer sequence

    def telemetry(self) -> Telemetry:
        t = Telemetry(SiteRegistry(hold_off_s=0.0), BrokerAddress(host="127.0.0.1", port=1))
        _expect(
            t.handle(DEFAULT_TOPICS.report(self.site_id), self.seed), "the seed report was refused"
        )
        return t

    def check(self, topic: str, payload: bytes, retained: bool = False) -> str:
        """Handle one message: accepted ones are sane, rejected ones counted and inert."""
        t = self.telemetry()
        before = registry_state(t.registry)
        accepted, rejected = t.accepted, t.rejected.total()
        if t.handle(topic, payload, retained=retained):
            _expect(t.accepted == accepted + 1, "accepted message not counted")
            for site_id in vars(t.registry)["_sites"]:
                _expect(bool(SITE_ID_PATTERN.match(site_id)), f"registry holds site {site_id!r}")
            for r in t.registry.reports():
                assert_sane_report(r)
            return ACCEPTED
        if t.rejected.total() != rejected + 1 or t.accepted != accepted:
            raise StateChanged("rejected message not counted exactly once")
        _unchanged(before, registry_state(t.registry), "the site registry")
        return REJECTED


# --- scenarios ----------------------------------------------------------------------------


def scenario_world() -> World:
    """Three sites on two sides, running and queued work: what fuzzed scenarios change."""
    reports = {}
    for i, (sid, side) in enumerate(
        zip(strategies.SCENARIO_SITES, ("east", "west", "west"), strict=True)
    ):
        data = site_dict(sid, side=side, a100=16 * i, interval_s=60.0)
        data["site"]["hub"] = strategies.SCENARIO_HUBS[i]
        reports[sid] = report_of(SiteConfig.model_validate(data))
    at = max(r.timestamp for r in reports.values())
    work = [
        workload("w1", latency_slo_ms=30.0, current_site="alpha"),
        workload("w2", origin_region="jjj", demands={"H100": 8, "A100": 16}),
        workload("w3", labels={"team": "a"}, duration_h=10.0),
    ]
    return World(
        at=at, reports=reports, up=set(reports), links=[], workloads=work, running={"w1": "alpha"}
    )


WHATIF_SOLVER = SolverConfig(time_limit_s=1.0, num_workers=1)


class ScenarioTarget:
    """``parse_scenario`` then ``apply`` to a fixed world, as the WhatIf RPC does."""

    def __init__(self) -> None:
        self.world = scenario_world()
        self.pristine = copy.deepcopy(self.world)

    def check(self, text: str, fmt: str) -> str:
        """Parse and apply: errors name the key or change; the world is never touched."""
        try:
            try:
                scenario = parse_scenario(
                    text, source="fuzz", fmt=None if fmt == "json" else fmt, allow_files=False
                )
            except ConfigFileError as exc:
                _names_a_key(exc)
                return REJECTED
            try:
                changed = apply(scenario, self.world)
            except ScenarioError as exc:
                _expect("changes[" in str(exc), f"scenario error names no change: {exc}")
                return REJECTED
        finally:
            _unchanged(self.pristine, self.world, "the world a scenario was applied to")
        # The solver must take it as it is: no error, and no overflow on the way.
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            solve_world(changed, WHATIF_SOLVER)
        return ACCEPTED


# --- config files -------------------------------------------------------------------------


ROUTER_DOC: dict[str, Any] = {
    "mqtt": {"url": "mqtt://127.0.0.1:1883"},
    "grpc": {"listen": "127.0.0.1:50051"},
    "store": {"path": "netrouter.db"},
    "sites": {"ttl_intervals": 3.0, "min_ttl_s": 5.0, "hold_off_s": 30.0},
    "solver": {"time_limit_s": 10.0, "num_workers": 2, "relative_gap_limit": 0.0001},
    "limits": {"max_batch": 10000},
    "failover": {"time_limit_s": 2.0, "sweep_interval_s": 0.5},
    "metrics": {"port": 9464, "address": "127.0.0.1"},
    "network": {"links": [{"a": "jjj", "b": "csj", "latency_ms": 14.6}]},
}


class RouterConfigTarget:
    """``netrouter serve``'s config: parse, then merge into the settings the router runs on."""

    def check(self, text: str, fmt: str) -> str:
        """Errors name a key; an accepted config makes settings a router can start with."""
        config = _parsed_or_none(text, RouterConfig, "router.toml", fmt)
        if config is None:
            return REJECTED
        try:
            settings = serve_settings(config)
        except ValueError as exc:
            _expect(any(f"{s}." in str(exc) for s in ROUTER_DOC), f"error names no key: {exc}")
            return REJECTED
        SiteRegistry(
            ttl_intervals=settings.ttl_intervals,
            min_ttl_s=settings.min_ttl_s,
            hold_off_s=settings.hold_off_s,
        )
        NetworkModel(settings.links)
        return ACCEPTED


class SiteConfigTarget:
    """The agent's config: an accepted one must make reports the router accepts."""

    def check(self, text: str, fmt: str) -> str:
        """Errors name a key; a static, fixed-PUE site's first report passes the router."""
        config = _parsed_or_none(text, SiteConfig, "site.toml", fmt)
        if config is None:
            return REJECTED
        if (
            config.pue.source == "fixed"
            and config.inventory.source == "static"
            and not config.latency_probe.targets
        ):
            message = ReportBuilder(config).build()
            try:
                decode_report(config.site.id, message.SerializeToString())
            except ReportRejectedError as exc:
                raise AssertionError(f"the router refuses a valid config's report: {exc}") from exc
        return ACCEPTED


# --- Place requests -----------------------------------------------------------------------


@dataclass
class PlaceTarget:
    """A real router (SQLite store, two live sites) behind the Place request conversion."""

    router: Router
    loop: asyncio.AbstractEventLoop
    max_batch: int

    @classmethod
    @contextlib.contextmanager
    def open(cls, db: Path, max_batch: int = 16) -> Iterator[PlaceTarget]:
        loop = asyncio.new_event_loop()
        registry = SiteRegistry(hold_off_s=0.0)
        for config in (
            site_config("alpha", h100=64, interval_s=3600.0),
            site_config("beta", side="east", h100=0, a100=32, interval_s=3600.0),
        ):
            registry.apply_report(report_of(config))
        store = PlacementStore(db)
        settings = RouterSettings(
            max_batch=max_batch, solver=SolverConfig(time_limit_s=1.0, num_workers=1)
        )
        router = Router(registry=registry, store=store, settings=settings)
        loop.run_until_complete(router.start())
        try:
            yield cls(router=router, loop=loop, max_batch=max_batch)
        finally:
            loop.run_until_complete(router.stop())
            loop.close()
            store.close()

    def state(self) -> Any:
        """The router's placements, device usage and stored active placements."""
        return (
            sorted((p.placement_id, p.site_id, p.devices) for p in self.router.active_placements()),
            dict(self.router.usage()),
            sorted(p.placement_id for p in self.router.store.active()),
        )

    def check(self, request: pb.PlaceRequest) -> str:
        """What the Place servicer does: convert, then place; rejections change nothing."""
        before = self.state()
        try:
            workloads = convert.place_request_from_pb(request, max_batch=self.max_batch)
            result = self.loop.run_until_complete(
                self.router.place(workloads, dry_run=request.dry_run)
            )
        except InvalidArgumentError as exc:
            _expect(exc.field.startswith("workloads"), f"error names no field: {exc}")
            _unchanged(before, self.state(), "the router")
            return REJECTED
        except ResourceExhaustedError as exc:
            _expect(str(exc).startswith("workloads:"), f"error names no field: {exc}")
            _unchanged(before, self.state(), "the router")
            return REJECTED
        except (AlreadyExistsError, FailedPreconditionError) as exc:
            _expect(isinstance(exc, RouterError), "")
            _unchanged(before, self.state(), "the router")
            return REJECTED
        if request.dry_run:
            _unchanged(before, self.state(), "the router (dry run)")
        for p in result.placements:
            _expect(math.isfinite(p.total_cost_yuan) and p.devices > 0, f"placed {p}")
        capacity = {
            (r.site_id, a.model): a.available
            for r in self.router.registry.reports()
            for a in r.accelerators
        }
        for key, used in self.router.usage().items():
            _expect(used <= capacity.get(key, 0), f"{key} over capacity: {used}")
        if self.router.active_count > 40:  # keep room for more accepted batches
            ids = [p.placement_id for p in self.router.active_placements()]
            self.loop.run_until_complete(self.router.release(ids))
        return ACCEPTED


# --- the registry of targets --------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A strategy of cases and the check each case must pass (``check(*case)``)."""

    name: str
    cases: st.SearchStrategy[tuple[Any, ...]]
    check: Callable[..., str]


@contextlib.contextmanager
def targets(workdir: Path) -> Iterator[list[Target]]:
    """Every fuzz target, ready to run (the Place target's router lives in ``workdir``)."""
    reports = ReportTarget()
    site = ReportTarget.site_id
    with PlaceTarget.open(workdir / "fuzz.db") as place:
        yield [
            Target(
                "report_bytes",
                st.tuples(
                    st.one_of(st.just(DEFAULT_TOPICS.report(site)), strategies.mqtt_topics(site)),
                    st.one_of(st.binary(max_size=512), strategies.status_payloads()),
                    st.booleans(),
                ),
                reports.check,
            ),
            Target(
                "report_values",
                st.tuples(
                    st.one_of(st.just(DEFAULT_TOPICS.report(site)), strategies.mqtt_topics(site)),
                    strategies.site_report_messages(reports.base).map(
                        lambda m: m.SerializeToString()
                    ),
                    st.booleans(),
                ),
                reports.check,
            ),
            Target(
                "scenario",
                strategies.document_texts(
                    strategies.scenario_documents(), ("toml", "yaml", "json")
                ),
                ScenarioTarget().check,
            ),
            Target(
                "router_config",
                strategies.document_texts(
                    strategies.mutated(ROUTER_DOC, strategies.document_values()), ("toml",)
                ),
                RouterConfigTarget().check,
            ),
            Target(
                "site_config",
                strategies.document_texts(
                    strategies.mutated(site_dict("alpha", a100=8), strategies.document_values()),
                    ("toml",),
                ),
                SiteConfigTarget().check,
            ),
            Target(
                "place_request",
                st.tuples(strategies.place_requests(place.max_batch)),
                place.check,
            ),
        ]


MAX_FAILURES_SHOWN = 5


def run_target(target: Target, cases: int) -> dict[str, Any]:
    """Run ``target`` for ``cases`` cases, counting outcomes instead of stopping at a failure."""
    figures: dict[str, Any] = {"cases": 0, "accepted": 0, "crashes": 0, "state_changes": 0}
    failures: list[dict[str, str]] = []

    @settings(
        max_examples=cases,
        database=None,
        deadline=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    @given(target.cases)
    def run(case: tuple[Any, ...]) -> None:
        figures["cases"] += 1
        try:
            if target.check(*case) == "accepted":
                figures["accepted"] += 1
            return
        except StateChanged as exc:
            figures["state_changes"] += 1
            error: Exception = exc
        except Exception as exc:
            figures["crashes"] += 1
            error = exc
        if len(failures) < MAX_FAILURES_SHOWN:
            frames = traceback.extract_tb(error.__traceback__)[-2:]
            failures.append(
                {
                    "error": f"{type(error).__name__}: {error}"[:400],
                    "where": " <- ".join(
                        f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                    ),
                    "input": repr(case)[:400],
                }
            )

    start = time.perf_counter()
    while figures["cases"] < cases:  # Hypothesis may stop short; top up until N ran
        run()
    figures["seconds"] = round(time.perf_counter() - start, 2)
    if failures:
        figures["failures"] = failures
    return figures
