"""The shape of a site's free capacity: how one model's free devices sit on its nodes.

A workload runs on one node when it needs at most a node's devices, so 8 free H100 spread
one per node across 8 nodes cannot take an 8-GPU job; a larger workload needs whole free
nodes, ⌈devices / node size⌉ of them. A site that reports no shape is counted in devices
only. :func:`node_pools` cuts a shaped (site, model) into the node pools the batch solver
assigns to, so the shape is a constraint of the optimisation, not a filter after it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from solver.arrays import BoolArray, IntArray
from solver.errors import InvalidProblemError


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeShape:
    """One model's free devices at a site, node by node.

    ``nodes_by_free[k]`` is the number of nodes with exactly ``k`` free devices,
    ``k = 0..node_size``. Where the fast-interconnect domains (NVLink or HCCS islands) are
    known, ``domain_nodes`` is the most nodes in one (0: unknown) and
    ``domains_by_whole[k]``, ``k = 0..domain_nodes``, the number of domains with exactly
    ``k`` whole free nodes (a node in no known domain is a domain of its own), so that
    ``sum(k * domains_by_whole[k]) == whole``. Work larger than a node that asks for one
    domain (:attr:`Workload.one_domain`) needs its whole nodes in one of them.
    """

    node_size: int
    nodes_by_free: tuple[int, ...]
    domain_nodes: int = 0
    domains_by_whole: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.node_size < 1:
            raise InvalidProblemError("node_size", "must be >= 1", owner="shape")
        if len(self.nodes_by_free) != self.node_size + 1:
            raise InvalidProblemError(
                "nodes_by_free",
                f"needs node_size + 1 = {self.node_size + 1} counts, got {len(self.nodes_by_free)}",
                owner="shape",
            )
        if any(n < 0 for n in self.nodes_by_free):
            raise InvalidProblemError("nodes_by_free", "counts must be >= 0", owner="shape")
        if self.domain_nodes < 0:
            raise InvalidProblemError("domain_nodes", "must be >= 0", owner="shape")
        if len(self.domains_by_whole) != (self.domain_nodes + 1 if self.domain_nodes else 0):
            raise InvalidProblemError(
                "domains_by_whole",
                f"needs domain_nodes + 1 = {self.domain_nodes + 1} counts, "
                f"got {len(self.domains_by_whole)}"
                if self.domain_nodes
                else "needs domain_nodes",
                owner="shape",
            )
        if any(n < 0 for n in self.domains_by_whole):
            raise InvalidProblemError("domains_by_whole", "counts must be >= 0", owner="shape")
        if self.domain_nodes and _weighted(self.domains_by_whole) != self.whole:
            raise InvalidProblemError(
                "domains_by_whole",
                f"holds {_weighted(self.domains_by_whole)} whole nodes, "
                f"nodes_by_free has {self.whole}",
                owner="shape",
            )

    @classmethod
    def of_nodes(
        cls, node_size: int, free: Sequence[int], domains: Sequence[str] | None = None
    ) -> NodeShape:
        """The shape of nodes with these free device counts and, where known, these domain
        names (one per node; ``""``: the node is in no known domain)."""
        counts = [0] * (node_size + 1)
        for k in free:
            counts[min(max(k, 0), node_size)] += 1
        if domains is None:
            return cls(node_size=node_size, nodes_by_free=tuple(counts))
        members: dict[str, int] = {}
        whole: dict[str, int] = {}
        for i, (k, name) in enumerate(zip(free, domains, strict=True)):
            key = name or f"\0{i}"
            members[key] = members.get(key, 0) + 1
            whole[key] = whole.get(key, 0) + (k >= node_size)
        size = max(members.values(), default=0)
        by_whole = [0] * (size + 1)
        for n in whole.values():
            by_whole[n] += 1
        return cls(
            node_size=node_size,
            nodes_by_free=tuple(counts),
            domain_nodes=size,
            domains_by_whole=tuple(by_whole) if size else (),
        )

    @property
    def free(self) -> int:
        """Free devices over all nodes."""
        return _weighted(self.nodes_by_free)

    @property
    def whole(self) -> int:
        """Nodes with every device free."""
        return self.nodes_by_free[-1]

    @property
    def largest(self) -> int:
        """The most free devices on one node."""
        return max((k for k, n in enumerate(self.nodes_by_free) if n), default=0)

    @property
    def largest_domain(self) -> int:
        """The most whole free nodes in one known domain (0: none, or domains unknown)."""
        return max((k for k, n in enumerate(self.domains_by_whole) if n), default=0)

    def nodes_for(self, devices: int) -> int:
        """Nodes a workload of ``devices`` takes: one, or whole nodes when it needs more."""
        return 1 if devices <= self.node_size else math.ceil(devices / self.node_size)

    def in_domain(self, devices: int, one_domain: bool) -> bool:
        """Whether work of ``devices`` that asks for ``one_domain`` is held to one here: it
        is larger than a node and the site knows its domains."""
        return one_domain and devices > self.node_size and self.domain_nodes > 0

    def fits(self, devices: int, one_domain: bool = False) -> bool:
        """Whether a workload of ``devices`` fits on these nodes as they are (in one domain
        when it asks for ``one_domain`` and the domains are known)."""
        if devices <= self.node_size:
            return self.largest >= devices
        if self.in_domain(devices, one_domain):
            return self.largest_domain >= self.nodes_for(devices)
        return self.whole >= self.nodes_for(devices)

    def fits_each(self, devices: IntArray, one_domain: BoolArray | None = None) -> BoolArray:
        """:meth:`fits` for many device counts at once."""
        n = self.node_size
        whole_nodes = -(-devices // n)
        room = np.full(devices.shape, self.whole)
        if one_domain is not None and self.domain_nodes:
            room = np.where(one_domain, self.largest_domain, room)
        fits: BoolArray = np.where(devices <= n, self.largest >= devices, room >= whole_nodes)
        return fits

    def shortfall(self, devices: int, model: str, one_domain: bool = False) -> str:
        """Why a workload of ``devices`` does not fit ("no node with 8 free H100; largest 1")."""
        if devices <= self.node_size:
            return f"no node with {devices} free {model}; largest {self.largest}"
        need = self.nodes_for(devices)
        nodes = f"{need} whole free nodes of {self.node_size} {model}"
        if self.in_domain(devices, one_domain):
            return (
                f"needs {nodes} in one interconnect domain; the most in one is "
                f"{self.largest_domain} ({self.whole} whole free in all)"
            )
        return f"needs {nodes}; {self.whole} whole free"

    def packs(self, sizes: Sequence[int], one_domain: Sequence[bool] = ()) -> list[bool]:
        """Which of work of these sizes fits when laid on the nodes (see :meth:`lay`)."""
        return self.lay(sizes, one_domain)[0]

    def lay(
        self, sizes: Sequence[int], one_domain: Sequence[bool] = ()
    ) -> tuple[list[bool], NodeShape]:
        """Lay work of these sizes on the nodes, largest first, each on the node with the
        fewest free devices that holds it, work larger than a node on whole nodes (all of
        their devices taken, as the node pools count them), in the known domain with the
        fewest whole free nodes that holds them all (``one_domain[i]``: only there): which
        fit (a heuristic, so ``False`` means only that this order found no node), and the
        shape left."""
        nodes = _Nodes.of(self)
        fits = [False] * len(sizes)
        for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
            ask = bool(one_domain[i]) if one_domain else False
            fits[i] = nodes.best_fit(sizes[i], keep_rest=False, one_domain=ask)
        return fits, nodes.shape(self)

    def freed(self, sizes: Iterable[int]) -> NodeShape:
        """The shape once work of these sizes, running on nodes we cannot name, leaves:
        each frees a node of its own (whole nodes, and one with the rest, for work larger
        than a node; each whole one a domain of its own). Its devices may share their nodes
        and domains with other free ones, so this may show smaller fragments than there
        are, never larger."""
        nodes = _Nodes.of(self)
        n = self.node_size
        for size in sizes:
            nodes.h[n] += size // n
            if nodes.d:
                nodes.d[1] += size // n
            if size % n:
                nodes.h[size % n] += 1
        return nodes.shape(self)

    def after(self, sizes: Iterable[int]) -> NodeShape:
        """The shape once work of these sizes is on it.

        Larger work first, each on the node with the fewest free devices that holds it (best
        fit: fragments fill before whole nodes break), work larger than a node on whole
        nodes, in one domain where one holds them (the one with the fewest whole free nodes
        that does). Work that fits nowhere still takes its devices, from the nodes with the
        most free, so the shape never shows more than the count allows.
        """
        nodes = _Nodes.of(self)
        h, n = nodes.h, self.node_size
        for size in sorted(sizes, reverse=True):
            if nodes.best_fit(size, keep_rest=True, one_domain=False):
                continue
            left = size
            for k in range(n, 0, -1):
                while h[k] and left:
                    take = min(k, left)
                    if k == n:
                        nodes.take_whole(1)
                    h[k] -= 1
                    h[k - take] += 1
                    left -= take
                if not left:
                    break
        return nodes.shape(self)


def _weighted(counts: Sequence[int]) -> int:
    """``sum(k * counts[k])``: the devices of a histogram of nodes by free devices, or the
    whole nodes of one of domains by whole nodes."""
    return sum(k * n for k, n in enumerate(counts))


@dataclass(slots=True)
class _Nodes:
    """A shape being changed: ``h`` nodes by free devices, ``d`` domains by whole free
    nodes (empty: domains unknown)."""

    h: list[int]
    d: list[int]

    @classmethod
    def of(cls, shape: NodeShape) -> _Nodes:
        return cls(list(shape.nodes_by_free), list(shape.domains_by_whole))

    def shape(self, like: NodeShape) -> NodeShape:
        return NodeShape(
            node_size=like.node_size,
            nodes_by_free=tuple(self.h),
            domain_nodes=like.domain_nodes,
            domains_by_whole=tuple(self.d),
        )

    def take_whole(self, count: int) -> None:
        """Count ``count`` whole nodes taken from the domains with the fewest whole free
        nodes, keeping the larger domains whole for work that needs one."""
        d = self.d
        k = 1
        while count and d:
            while k < len(d) and not d[k]:
                k += 1
            take = min(k, count)
            d[k] -= 1
            d[k - take] += 1
            count -= take

    def take_domain(self, count: int) -> bool:
        """Take ``count`` whole nodes in the domain with the fewest whole free nodes that
        holds them all (``False``: none does, nothing taken)."""
        k = next((k for k in range(count, len(self.d)) if self.d[k]), None)
        if k is None:
            return False
        self.d[k] -= 1
        self.d[k - count] += 1
        return True

    def best_fit(self, size: int, *, keep_rest: bool, one_domain: bool) -> bool:
        """Put work of ``size`` on the nodes: on the node with the fewest free that holds
        it or, larger than a node, on whole nodes (in one domain where one holds them; only
        there with ``one_domain`` when the domains are known), the devices it leaves on the
        last one free with ``keep_rest`` (as the site sees them), else taken too (as the
        node pools count them). ``False``: no room, nothing changed."""
        h = self.h
        n = len(h) - 1
        if size <= n:
            k = next((k for k in range(size, n + 1) if h[k]), None)
            if k is None:
                return False
            if k == n:
                self.take_whole(1)
            h[k] -= 1
            h[k - size] += 1
            return True
        nodes = math.ceil(size / n)
        if h[n] < nodes:
            return False
        if not self.take_domain(nodes):
            if one_domain and self.d:
                return False
            self.take_whole(nodes)
        h[n] -= nodes
        if keep_rest:
            h[0] += nodes - 1
            h[nodes * n - size] += 1
        else:
            h[0] += nodes
        return True


@dataclass(frozen=True, slots=True)
class NodePools:
    """The pools a shaped (site, model) is cut into for one batch.

    ``caps``: each pool's capacity in devices: first ``nodes`` pools of one node each (in
    ascending size), then ``domains`` pools of the whole free nodes of one interconnect
    domain each (ascending), set aside for work that asks for one domain, and last, when
    ``gang`` is set, one pool of the whole nodes set aside for the other work larger than a
    node.
    """

    caps: IntArray
    nodes: int
    domains: int
    gang: bool


def node_pools(
    shape: NodeShape,
    sizes: IntArray,
    one_domain: BoolArray | None = None,
    *,
    set_aside: bool = True,
) -> NodePools:
    """The node pools for candidate work of device counts ``sizes`` on ``shape``
    (``one_domain``: which of it asks for one interconnect domain).

    Each node with free devices is a pool of its own (a workload of at most a node's devices
    goes on one node), but of ``n`` identical nodes only as many as there are candidates
    that fit on one of them: each node used holds at least one, and identical nodes are
    interchangeable, so no plan needs more. Work larger than a node that asks for one domain
    (where the domains are known) has a pool per domain, the domains with the most whole
    free nodes first, as many as it needs together; the rest of the work larger than a node
    shares one pool of the whole free nodes left, as many as it needs together. Both are
    set aside from the node pools. With ``set_aside`` false no domain is set aside and the
    whole nodes are also offered as node pools: a relaxation (the nodes count twice, any
    whole nodes serve any large work) whose bound holds for the problem itself.
    """
    s = shape.node_size
    small = np.sort(sizes[sizes <= s])
    need = -(-sizes // s)
    big = sizes > s
    in_domain = np.zeros(sizes.shape, dtype=bool)
    if one_domain is not None and shape.domain_nodes and set_aside:
        in_domain = big & one_domain
    domain_caps: list[int] = []
    if in_domain.any():
        wanted, least = int(need[in_domain].sum()), int(need[in_domain].min())
        for k in range(shape.domain_nodes, least - 1, -1):
            for _ in range(shape.domains_by_whole[k]):
                if sum(domain_caps) >= wanted:
                    break
                domain_caps.append(k)
    taken = sum(domain_caps)
    plain = need[big & ~in_domain]
    gang_nodes = min(shape.whole - taken, int(plain.sum())) if plain.size else 0
    caps: list[int] = []
    for k in range(1, s + 1):
        nodes = shape.nodes_by_free[k] - (gang_nodes + taken if k == s and set_aside else 0)
        fitting = int(np.searchsorted(small, k, side="right"))
        caps += [k] * min(nodes, fitting)
    n_nodes = len(caps)
    caps += [k * s for k in sorted(domain_caps)]
    if gang_nodes:
        caps.append(gang_nodes * s)
    return NodePools(
        caps=np.array(caps, dtype=np.int64),
        nodes=n_nodes,
        domains=len(domain_caps),
        gang=gang_nodes > 0,
    )
