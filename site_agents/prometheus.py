"""Inventory from the site's Prometheus: every node's accelerators, as its exporters show them.

Each read runs the configured PromQL (``[inventory.prometheus] queries``; defaults for
dcgm-exporter, Huawei's npu-exporter and kube-state-metrics in
:data:`site_agents.config.DEFAULT_QUERIES`) at ``/api/v1/query``. Every query answers a
vector labelled ``node`` and ``model`` (the exporter's model label): devices, unhealthy
devices, devices used by pods that carry no netrouter placement id, and measured power.
The counts are kept per node (:attr:`PrometheusInventory.nodes`) and summed per model into
the report's :class:`~site_agents.collectors.Inventory`, with each model's board power from
the config (exporters do not give a limit by default). npu-exporter labels no node (it is
scraped once per node): its series are named by the scrape target's host, ``instance``
without the port, unless they carry a ``node`` label.

Each model also gets the shape of its free capacity: ``node_size``, the most devices of it
any node has, and ``nodes_by_free``, how many nodes have exactly 0, 1, ... ``node_size``
of them free (healthy, less those in use by others, clamped per node exactly as the
summed counts are, so the histogram holds ``healthy - in_use_by_others`` devices, as the
router requires). Where the ``node_domains`` query names each node's fast-interconnect
domain (NVLink or HCCS island; by default GPU feature discovery's ``nvidia.com/gpu.clique``
through kube-state-metrics), the shape also carries ``domains_by_whole``, the domains by
their whole free nodes, and ``domain_nodes``, the most nodes in one; a node it does not name
is a domain of its own. The query failing or answering nothing leaves the domains unknown
(logged once), the rest of the inventory still good. A node with more devices than a report's node size carries
(``MAX_NODE_SIZE``) leaves its model's shape unreported (logged once); the static fallback
never reports one.

With ``sees_placements`` the agent also reads netrouter's own running work: the placement
queries count, per node, model and placement id, the devices of pods carrying the
``netrouter.io/placement-id`` label (kube-state-metrics' ``kube_pod_labels``). The report
then lists them (:meth:`PrometheusInventory.placements`, one per placement id, devices
summed over nodes) and each node's free devices leave them out too, so the shape holds
``healthy - in_use_by_others`` less the running placements' devices, as the router checks.
A placement query that fails is logged once and that read reports no placements seen; the
inventory is still good.

A node whose exporter goes away drops out once Prometheus marks its series stale (at once
after a failed scrape, else after its 5 minute lookback): the site reports what Prometheus
still sees, never more. A query that fails or (for the device queries) comes back empty is
logged once, with its text, until it works again. When Prometheus cannot be read, or no
device query finds anything, ``fallback`` decides: ``last_good`` reuses the last good
inventory for ``grace_s``, then reports the static ``[[accelerators]]``; ``static`` reports
those at once; ``none`` raises :class:`~site_agents.collectors.CollectorError`, so no report
is published and the router marks the site stale.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netrouter.contract.limits import MAX_RUNNING
from netrouter.contract.messages import same_fields
from netrouter.contract.names import UnknownNameError, check_model
from netrouter.contract.site_report import RunningPlacement
from site_agents.collectors import CollectorError, Inventory, Shape, StaticInventory, node_shape
from site_agents.config import (
    DEVICE_QUERIES,
    DOMAIN_QUERY,
    PLACEMENT_QUERIES,
    PrometheusSection,
    SiteConfig,
)

log = logging.getLogger(__name__)

_ASCEND = re.compile(r"^(?:Ascend)?\s*(\d{3}[A-Z]?)\d*(?:-Ascend.*)?$", re.IGNORECASE)
_NVIDIA_BRANDS = ("NVIDIA", "Tesla", "GeForce", "Quadro")


class QueryError(RuntimeError):
    """A query Prometheus did not answer with a vector; the message names the query."""

    def __init__(self, name: str, query: str, reason: str) -> None:
        super().__init__(f"query {name} failed ({reason}): {query}")
        self.name = name
        self.query = query
        self.reason = reason


def canonical_model(label: str, names: dict[str, str]) -> str:
    """The model name of an exporter's model label: ``names`` first, else Ascend's
    ``910B3-Ascend-V1`` as ``Ascend910B``, else NVIDIA's ``NVIDIA H100 80GB HBM3`` as
    ``H100`` (the word after the brand); checked by ``check_model`` (raises
    ``UnknownNameError`` for a near miss of a known model)."""
    if label in names:
        return names[label]
    ascend = _ASCEND.match(label.strip())
    if ascend and "ascend" in label.lower():
        return check_model(f"Ascend{ascend.group(1).upper()}")
    words = label.replace("-", " ").split()
    while words and words[0] in _NVIDIA_BRANDS:
        words = words[1:]
    return check_model(words[0] if words else label)


@dataclass(slots=True)
class NodeModel:
    """One model's devices on one node, as Prometheus shows them."""

    node: str
    model: str
    exporter_model: str
    total: int = 0
    unhealthy: int = 0
    in_use_by_others: int = 0
    power_draw_w: float | None = None
    placements: dict[str, int] = field(default_factory=dict)
    """Devices used by netrouter's pods, per placement id (read with ``sees_placements``)."""

    @property
    def healthy(self) -> int:
        return max(0, self.total - self.unhealthy)

    @property
    def busy(self) -> int:
        """Devices in use by others, at most the healthy ones."""
        return min(self.in_use_by_others, self.healthy)

    @property
    def ours(self) -> dict[str, int]:
        """:attr:`placements` within the healthy devices others leave free, taken in
        placement id order (a placement on a failed device is not counted twice)."""
        room = self.healthy - self.busy
        out: dict[str, int] = {}
        for placement_id in sorted(self.placements):
            take = min(self.placements[placement_id], room)
            if take > 0:
                out[placement_id] = take
                room -= take
        return out

    def describe(self) -> str:
        """One line for ``netrouter-agent check``."""
        power = "" if self.power_draw_w is None else f", drawing {self.power_draw_w:g} W"
        ours = self.ours
        placed = (
            ", netrouter's: " + ", ".join(f"{k} ({n})" for k, n in ours.items()) if ours else ""
        )
        return (
            f"node {self.node}: {self.total} {self.model} ({self.exporter_model}), "
            f"{self.healthy} healthy, {self.busy} in use by others{placed}{power}"
        )


Fetch = Callable[[str, float], Any]
"""``fetch(url, timeout_s)`` -> the decoded JSON answer (raises on a transport error)."""


def _http_json(url: str, timeout_s: float) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as exc:  # Prometheus explains a bad query in the body
        try:
            return json.load(exc)
        except ValueError:
            raise exc from None


@dataclass
class PrometheusInventory:
    """Inventory from the site's Prometheus, with the configured fallback."""

    config: SiteConfig
    clock: Callable[[], float] = time.monotonic
    fetch: Fetch = _http_json
    nodes: list[NodeModel] = field(default_factory=list, init=False, repr=False)
    """Per node and model, what the last successful read found."""
    _last_good: tuple[list[Inventory], tuple[RunningPlacement, ...] | None] | None = field(
        default=None, init=False, repr=False
    )
    _placements: tuple[RunningPlacement, ...] | None = field(default=None, init=False, repr=False)
    _domains: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    """Each node's interconnect domain, as the last read of ``node_domains`` named it."""
    _last_good_at: float = field(default=0.0, init=False, repr=False)
    _failing: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _fallback_said: str | None = field(default=None, init=False, repr=False)
    _skipped: set[str] = field(default_factory=set, init=False, repr=False)

    @property
    def settings(self) -> PrometheusSection:
        return self.config.inventory.prometheus

    # --- querying ----------------------------------------------------------------------

    def query(self, name: str, promql: str) -> list[tuple[str, str, float]]:
        """``(node, model label, value)`` of each sample ``promql`` answers."""
        return [(node, model, value) for (node, model), value in self._vector(name, promql)]

    def query_placements(self, name: str, promql: str) -> list[tuple[str, str, str, float]]:
        """``(node, model label, placement id, value)`` of each sample ``promql`` answers."""
        need = ("node", "model", "placement_id")
        return [
            (node, model, placement_id, value)
            for (node, model, placement_id), value in self._vector(name, promql, need)
        ]

    def query_domains(self, name: str, promql: str) -> dict[str, str]:
        """Each node's domain, from the samples ``promql`` answers."""
        return {
            node: domain for (node, domain), _ in self._vector(name, promql, ("node", "domain"))
        }

    def _vector(
        self, name: str, promql: str, need: tuple[str, ...] = ("node", "model")
    ) -> list[tuple[tuple[str, ...], float]]:
        """The labels ``need`` (all required) and the value of each sample."""
        url = f"{self.settings.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            answer = self.fetch(url, self.settings.timeout_s)
        except Exception as exc:  # refused, timed out, not JSON: Prometheus is not there
            raise QueryError(name, promql, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error = answer.get("error", answer) if isinstance(answer, dict) else answer
            raise QueryError(name, promql, f"Prometheus said: {error}")
        data = answer.get("data", {})
        if data.get("resultType") != "vector":
            raise QueryError(name, promql, f"a {data.get('resultType')}, not a vector")
        out = []
        for sample in data.get("result", []):
            try:
                labels = sample["metric"]
                values = tuple(str(labels.get(label, "")) for label in need)
                value = float(sample["value"][1])
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                raise QueryError(name, promql, f"a sample unlike a vector's: {sample}") from exc
            if not all(values):
                names = ", ".join(need[:-1]) + " and " + need[-1]
                raise QueryError(name, promql, f"a sample without {names}: {labels}")
            out.append((values, value))
        return out

    def read_nodes(self) -> list[NodeModel]:
        """Every node's devices per model (with ``sees_placements``, netrouter's among
        them); raises :class:`QueryError` when a query fails or no device query finds any
        device."""
        return self._read()[0]

    def _read(self) -> tuple[list[NodeModel], bool]:
        """:meth:`read_nodes`, and whether the placements were read (a placement query
        that fails is logged and leaves them unread, the inventory still good)."""
        queries = self.settings.queries
        apart = {*PLACEMENT_QUERIES.values(), DOMAIN_QUERY}
        results: dict[str, list[tuple[str, str, float]]] = {}
        for name, promql in queries.items():
            if not promql or name in apart:
                continue
            try:
                results[name] = self.query(name, promql)
            except QueryError as exc:
                self._say_failing(name, exc.reason, promql)
                raise
            if not results[name] and name in DEVICE_QUERIES:
                self._say_failing(name, "no series", promql)
            else:
                self._say_recovered(name)
        found: dict[tuple[str, str], NodeModel] = {}
        for name in DEVICE_QUERIES:
            for node, label, value in results.get(name, []):
                model = self._model(label)
                if model is not None and value > 0:
                    key = (node, label)
                    found[key] = NodeModel(node, model, label, total=int(value))
        if not found:
            names = [n for n in DEVICE_QUERIES if queries.get(n)]
            raise QueryError(
                "/".join(names), " ; ".join(queries[n] for n in names), "no devices found"
            )
        for name, rows in results.items():
            if name in DEVICE_QUERIES:
                continue
            for node, label, value in rows:
                entry = found.get((node, label))
                if entry is None:
                    continue  # a qualifier for devices no device query sees: ignored
                if name.endswith("_unhealthy"):
                    entry.unhealthy += int(value)
                elif name.endswith("_in_use_by_others"):
                    entry.in_use_by_others += int(value)
                elif name.endswith("_power_draw_w"):
                    entry.power_draw_w = (entry.power_draw_w or 0.0) + value
        seen = self.settings.sees_placements and self._read_placements(found)
        self._domains = self._read_domains()
        return sorted(found.values(), key=lambda e: (e.node, e.model, e.exporter_model)), seen

    def _read_domains(self) -> dict[str, str]:
        """Each node's interconnect domain; empty (unknown) when the query is off, fails
        or names none (logged once)."""
        promql = self.settings.queries.get(DOMAIN_QUERY, "")
        if not promql:
            return {}
        try:
            domains = self.query_domains(DOMAIN_QUERY, promql)
        except QueryError as exc:
            self._say_failing(DOMAIN_QUERY, f"{exc.reason}; interconnect domains unknown", promql)
            return {}
        if not domains:
            if DOMAIN_QUERY not in self._skipped:  # usual where nodes share no domain
                self._skipped.add(DOMAIN_QUERY)
                log.info(
                    "Prometheus query %s names no node's interconnect domain: domains unknown: %s",
                    DOMAIN_QUERY,
                    promql,
                )
        else:
            self._say_recovered(DOMAIN_QUERY)
        return domains

    def _read_placements(self, found: dict[tuple[str, str], NodeModel]) -> bool:
        """Put each placement query's devices on the nodes ``found``; False (nothing put)
        when one of them fails."""
        rows: list[tuple[str, str, str, float]] = []
        ok = True
        for name in PLACEMENT_QUERIES.values():
            promql = self.settings.queries[name]
            if not promql:
                continue
            try:
                rows += self.query_placements(name, promql)
            except QueryError as exc:
                self._say_failing(name, exc.reason, promql)
                ok = False
            else:
                self._say_recovered(name)
        if not ok:
            return False
        for node, label, placement_id, value in rows:
            entry = found.get((node, label))
            if entry is not None and value > 0:  # else: devices no device query sees
                entry.placements[placement_id] = entry.placements.get(placement_id, 0) + int(value)
        return True

    def _model(self, label: str) -> str | None:
        try:
            return canonical_model(label, self.settings.exporter_models)
        except UnknownNameError as exc:
            self._skip_once(
                label,
                "Prometheus: model %r left out (%s); name it in [inventory.prometheus] model_names",
                label,
                exc,
            )
            return None

    def _skip_once(self, key: str, message: str, *args: object) -> None:
        """Warn that ``key`` is left out, the first time only."""
        if key not in self._skipped:
            self._skipped.add(key)
            log.warning(message, *args)

    def _say_failing(self, name: str, reason: str, promql: str) -> None:
        if self._failing.get(name) == reason:
            return
        self._failing[name] = reason
        log.warning("Prometheus query %s: %s: %s", name, reason, promql)

    def _say_recovered(self, name: str) -> None:
        if self._failing.pop(name, None) is not None:
            log.info("Prometheus query %s answers again", name)

    # --- the InventorySource protocol --------------------------------------------------

    def _power(self, model: str) -> float | None:
        """A model's board power: ``board_power_w``, else its ``[[accelerators]]`` entry."""
        static = {a.model: a.power_w for a in self.config.accelerators}
        return self.settings.board_power_w.get(model, static.get(model))

    def running(self, nodes: list[NodeModel]) -> tuple[RunningPlacement, ...]:
        """netrouter's placements on ``nodes``, one per placement id, their devices summed
        over nodes (each node's :attr:`NodeModel.ours`), on models the report carries. A
        report names each id once: an id seen on two models is reported on the one it
        uses most devices of (logged once), and its devices on the other count as free."""
        devices: dict[str, dict[str, int]] = {}
        for e in nodes:
            if self._power(e.model) is None:
                continue  # a model left out of the report
            for placement_id, n in e.ours.items():
                per_model = devices.setdefault(placement_id, {})
                per_model[e.model] = per_model.get(e.model, 0) + n
        out = []
        for placement_id, per_model in sorted(devices.items()):
            model = max(sorted(per_model), key=per_model.__getitem__)
            if len(per_model) > 1:
                self._skip_once(
                    f"placement:{placement_id}",
                    "Prometheus: placement %s runs on %s; reported on %s only",
                    placement_id,
                    ", ".join(sorted(per_model)),
                    model,
                )
            out.append(
                RunningPlacement(placement_id=placement_id, model=model, devices=per_model[model])
            )
        return tuple(out)

    def per_model(
        self, nodes: list[NodeModel], running: tuple[RunningPlacement, ...] = ()
    ) -> list[Inventory]:
        """The site's inventory per model: the nodes summed, board power from the config,
        and the shape of the free capacity.

        ``node_size`` is the most devices of the model any node has; ``nodes_by_free[k]``
        counts the nodes with exactly ``k`` of them free (healthy, less those in use by
        others, less those of the placements in ``running``). The counts are summed from
        the same clamped per-node figures, so the histogram always holds ``healthy -
        in_use_by_others`` devices less the running placements', as the router checks.
        With domains read (:attr:`_domains`), ``domains_by_whole`` and ``domain_nodes``
        too."""
        counted = {(r.placement_id, r.model) for r in running}
        by_model: dict[str, list[NodeModel]] = {}
        for entry in nodes:
            by_model.setdefault(entry.model, []).append(entry)
        out = []
        for model in sorted(by_model):
            power = self._power(model)
            if power is None:
                self._skip_once(
                    model,
                    "Prometheus: %s left out: no board power for it in "
                    "[inventory.prometheus] board_power_w or [[accelerators]]",
                    model,
                )
                continue
            group = by_model[model]
            per_node: dict[str, tuple[int, int]] = {}
            for e in group:  # one node may show a model under two exporter labels
                devices, free = per_node.get(e.node, (0, 0))
                ours = sum(n for k, n in e.ours.items() if (k, model) in counted)
                per_node[e.node] = (devices + e.total, free + e.healthy - e.busy - ours)
            domains = self._domains
            shape = node_shape(
                per_node.values(), [domains.get(n, "") for n in per_node] if domains else None
            )
            if not shape.node_size and group:
                self._skip_once(
                    f"shape:{model}",
                    "Prometheus: %s shape not reported: a node has more devices than a "
                    "report carries",
                    model,
                )
            out.append(
                Inventory(
                    model=model,
                    total=sum(e.total for e in group),
                    healthy=sum(e.healthy for e in group),
                    in_use_by_others=sum(e.busy for e in group),
                    power_w=power,
                    from_static_config=False,
                    **same_fields(Shape, shape),
                )
            )
        return out

    def inventory(self) -> list[Inventory]:
        now = self.clock()
        try:
            nodes, seen = self._read()
        except QueryError as exc:
            self._placements = None
            return self._fallback(now, exc)
        self._log_node_changes(nodes)
        self.nodes = nodes
        running = self.running(nodes) if seen else ()
        if len(running) > MAX_RUNNING:
            self._skip_once(
                "running:too_many",
                "Prometheus: %d running placements, more than a report carries (%d): "
                "not reporting placements",
                len(running),
                MAX_RUNNING,
            )
            seen, running = False, ()
        inventory = self.per_model(nodes, running)
        self._placements = running if seen else None
        self._last_good, self._last_good_at = (inventory, self._placements), now
        if self._fallback_said is not None:
            log.info("Prometheus inventory is back (%d node models)", len(nodes))
            self._fallback_said = None
        return inventory

    def _fallback(self, now: float, exc: QueryError) -> list[Inventory]:
        mode = self.settings.fallback
        if mode == "none":
            self._say_fallback("none", f"not reporting: {exc}")
            raise CollectorError("inventory", f"Prometheus: {exc}") from exc
        if mode == "last_good" and self._last_good is not None:
            age = now - self._last_good_at
            if age <= self.settings.grace_s:
                self._say_fallback(
                    "last_good",
                    f"reporting the last good inventory (for up to {self.settings.grace_s:g} s)",
                )
                inventory, self._placements = self._last_good  # its shape counts them
                return list(inventory)
        self._say_fallback("static", "reporting the static [[accelerators]] inventory")
        return StaticInventory(self.config).inventory()

    def placements(self) -> tuple[RunningPlacement, ...] | None:
        """The :class:`~site_agents.collectors.PlacementSource` method: the placements
        the last :meth:`inventory` showed running, or None when it did not read them."""
        return self._placements

    def _say_fallback(self, state: str, what: str) -> None:
        if self._fallback_said == state:
            return
        self._fallback_said = state
        log.warning("Prometheus inventory unavailable: %s", what)

    def _log_node_changes(self, nodes: list[NodeModel]) -> None:
        before = {(e.node, e.model) for e in self.nodes}
        after = {(e.node, e.model) for e in nodes}
        for node, model in sorted(before - after):
            log.warning("Prometheus: node %s no longer shows its %s devices", node, model)
        for node, model in sorted(after - before):
            log.info("Prometheus: node %s shows %s devices", node, model)
