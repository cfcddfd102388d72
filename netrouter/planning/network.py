"""The network model: demand regions, sites and backbone links (networkx).

Nodes are demand-region names and site ids. Edges are the configured backbone
:class:`~netrouter.client.types.Link` values (latency, bandwidth, 元/GB) plus, for every site whose
report is fresh, its reported round-trip time to each region. A site's latency from a region
is that fresh reported value when there is one, else the length of the shortest path; the
transfer price of data from a region to a site is the sum of the per-GB prices of the links
on the shortest backbone path (0 when no backbone path exists).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from netrouter.client.errors import InvalidArgumentError
from netrouter.client.types import Link
from netrouter.contract.limits import MAX_BANDWIDTH_GBPS, MAX_LATENCY_MS, MAX_YUAN_PER_GB
from netrouter.contract.site_report import SiteReport


@dataclass(frozen=True, slots=True, kw_only=True)
class Path:
    """The best path from a region to a site: its latency, price per GB and bottleneck."""

    latency_ms: float
    yuan_per_gb: float
    bandwidth_gbps: float  # 0 = unknown

    def with_latency(self, latency_ms: float) -> Path:
        """This path with another latency (a site's own measurement)."""
        return Path(
            latency_ms=latency_ms, yuan_per_gb=self.yuan_per_gb, bandwidth_gbps=self.bandwidth_gbps
        )


_UNPRICED = Path(latency_ms=0.0, yuan_per_gb=0.0, bandwidth_gbps=0.0)
"""A site no backbone route reaches: no transfer price, bandwidth unknown."""


def check_links(links: Sequence[Link], field: str = "links") -> None:
    """Raise :class:`InvalidArgumentError` naming the first bad link."""
    for i, link in enumerate(links):
        where = f"{field}[{i}]"
        if not link.a or not link.b or link.a == link.b:
            raise InvalidArgumentError(where, "needs two different endpoints a and b")
        for name, value, high in (
            ("latency_ms", link.latency_ms, MAX_LATENCY_MS),
            ("bandwidth_gbps", link.bandwidth_gbps, MAX_BANDWIDTH_GBPS),
            ("yuan_per_gb", link.yuan_per_gb, MAX_YUAN_PER_GB),
        ):
            if not (math.isfinite(value) and 0 <= value <= high):
                raise InvalidArgumentError(
                    f"{where}.{name}", f"must be in [0, {high:g}], got {value}"
                )


class NetworkModel:
    """Backbone links and the latency/transfer-price table derived from them and reports."""

    def __init__(self, links: Sequence[Link] = ()) -> None:
        check_links(links)
        self.links: tuple[Link, ...] = tuple(links)
        self._priced_from: dict[str, dict[str, Path]] = {}
        self._backbone = nx.Graph()
        for link in self.links:
            self._backbone.add_edge(
                link.a,
                link.b,
                latency_ms=link.latency_ms,
                bandwidth_gbps=link.bandwidth_gbps,
                yuan_per_gb=link.yuan_per_gb,
            )

    def with_links(self, links: Sequence[Link]) -> NetworkModel:
        """A model with these backbone links instead (what-ifs cut or add links)."""
        return NetworkModel(links)

    def paths(
        self,
        regions: Iterable[str],
        fresh: Sequence[SiteReport],
        site_ids: Iterable[str],
    ) -> dict[str, dict[str, Path]]:
        """Per site, the path from each region that reaches it (see the module doc)."""
        sites = list(site_ids)
        measured: dict[tuple[str, str], float] = {}
        for r in fresh:
            for lat in r.latencies:
                measured[(lat.region, r.site_id)] = lat.rtt_ms
        graph: nx.Graph | None = None
        table: dict[str, dict[str, Path]] = {s: {} for s in sites}
        for region in set(regions):
            dist: Mapping[str, float] = {}
            if any((region, s) not in measured for s in sites):
                # Some site has no fresh measurement from this region: the shortest path
                # over the backbone and the measured hops gives its latency.
                if graph is None:
                    graph = self._backbone.copy()
                    for (a, b), rtt in measured.items():
                        # A fresh measurement is the truth for that hop, over a configured link.
                        graph.add_edge(a, b, latency_ms=rtt)
                if region in graph:
                    dist = nx.single_source_dijkstra_path_length(graph, region, weight="latency_ms")
            priced = self._priced(region)
            for s in sites:
                direct = measured.get((region, s))
                latency = direct if direct is not None else dist.get(s)
                if latency is None:
                    continue
                table[s][region] = priced.get(s, _UNPRICED).with_latency(latency)
        return table

    def _priced(self, region: str) -> dict[str, Path]:
        """Price per GB and bottleneck of the shortest backbone route from ``region`` to
        every node (the backbone never changes: computed once per region)."""
        cached = self._priced_from.get(region)
        if cached is None:
            cached = {}
            if region in self._backbone:
                _, routes = nx.single_source_dijkstra(self._backbone, region, weight="latency_ms")
                for node, route in routes.items():
                    cached[node] = Path(
                        latency_ms=0.0,
                        yuan_per_gb=self._sum(route, "yuan_per_gb"),
                        bandwidth_gbps=self._bottleneck(route),
                    )
            self._priced_from[region] = cached
        return cached

    def _sum(self, route: list[str] | None, key: str) -> float:
        if not route:
            return 0.0
        return float(sum(self._backbone.edges[a, b][key] for a, b in itertools.pairwise(route)))

    def _bottleneck(self, route: list[str] | None) -> float:
        if not route or len(route) < 2:
            return 0.0
        widths = [
            self._backbone.edges[a, b]["bandwidth_gbps"] for a, b in itertools.pairwise(route)
        ]
        known = [w for w in widths if w > 0]
        return float(min(known)) if known else 0.0
