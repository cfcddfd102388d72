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
    ``k = 0..node_size``; ``domain_nodes`` the nodes per fast-interconnect domain (NVLink or
    HCCS island; 0: unknown).
    """

    node_size: int
    nodes_by_free: tuple[int, ...]
    domain_nodes: int = 0

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

    @classmethod
    def of_nodes(cls, node_size: int, free: Iterable[int], domain_nodes: int = 0) -> NodeShape:
        """The shape of nodes with these free device counts."""
        counts = [0] * (node_size + 1)
        for k in free:
            counts[min(max(k, 0), node_size)] += 1
        return cls(node_size=node_size, nodes_by_free=tuple(counts), domain_nodes=domain_nodes)

    @property
    def free(self) -> int:
        """Free devices over all nodes."""
        return sum(k * n for k, n in enumerate(self.nodes_by_free))

    @property
    def whole(self) -> int:
        """Nodes with every device free."""
        return self.nodes_by_free[-1]

    @property
    def largest(self) -> int:
        """The most free devices on one node."""
        return max((k for k, n in enumerate(self.nodes_by_free) if n), default=0)

    def nodes_for(self, devices: int) -> int:
        """Nodes a workload of ``devices`` takes: one, or whole nodes when it needs more."""
        return 1 if devices <= self.node_size else math.ceil(devices / self.node_size)

    def fits(self, devices: int) -> bool:
        """Whether a workload of ``devices`` fits on these nodes as they are."""
        if devices <= self.node_size:
            return self.largest >= devices
        return self.whole >= self.nodes_for(devices)

    def fits_each(self, devices: IntArray) -> BoolArray:
        """:meth:`fits` for many device counts at once."""
        n = self.node_size
        whole_nodes = -(-devices // n)
        fits: BoolArray = np.where(devices <= n, self.largest >= devices, self.whole >= whole_nodes)
        return fits

    def shortfall(self, devices: int, model: str) -> str:
        """Why a workload of ``devices`` does not fit ("no node with 8 free H100; largest 1")."""
        if devices <= self.node_size:
            return f"no node with {devices} free {model}; largest {self.largest}"
        need = self.nodes_for(devices)
        return f"needs {need} whole free nodes of {self.node_size} {model}; {self.whole} whole free"

    def packs(self, sizes: Sequence[int]) -> list[bool]:
        """Which of work of these sizes fits when laid on the nodes (see :meth:`lay`)."""
        return self.lay(sizes)[0]

    def lay(self, sizes: Sequence[int]) -> tuple[list[bool], NodeShape]:
        """Lay work of these sizes on the nodes, largest first, each on the node with the
        fewest free devices that holds it, work larger than a node on whole nodes (all of
        their devices taken, as the node pools count them): which fit (a heuristic, so
        ``False`` means only that this order found no node), and the shape left."""
        h = list(self.nodes_by_free)
        n = self.node_size
        fits = [False] * len(sizes)
        for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
            fits[i] = _best_fit(h, n, sizes[i], keep_rest=False)
        left = NodeShape(node_size=n, nodes_by_free=tuple(h), domain_nodes=self.domain_nodes)
        return fits, left

    def freed(self, sizes: Iterable[int]) -> NodeShape:
        """The shape once work of these sizes, running on nodes we cannot name, leaves:
        each frees a node of its own (whole nodes, and one with the rest, for work larger
        than a node). Its devices may share their nodes with other free ones, so this may
        show smaller fragments than there are, never larger."""
        h = list(self.nodes_by_free)
        n = self.node_size
        for size in sizes:
            h[n] += size // n
            if size % n:
                h[size % n] += 1
        return NodeShape(node_size=n, nodes_by_free=tuple(h), domain_nodes=self.domain_nodes)

    def after(self, sizes: Iterable[int]) -> NodeShape:
        """The shape once work of these sizes is on it.

        Larger work first, each on the node with the fewest free devices that holds it (best
        fit: fragments fill before whole nodes break), work larger than a node on whole
        nodes. Work that fits nowhere still takes its devices, from the nodes with the most
        free, so the shape never shows more than the count allows.
        """
        h = list(self.nodes_by_free)
        n = self.node_size
        for size in sorted(sizes, reverse=True):
            if _best_fit(h, n, size, keep_rest=True):
                continue
            left = size
            for k in range(n, 0, -1):
                while h[k] and left:
                    take = min(k, left)
                    h[k] -= 1
                    h[k - take] += 1
                    left -= take
                if not left:
                    break
        return NodeShape(node_size=n, nodes_by_free=tuple(h), domain_nodes=self.domain_nodes)


def _best_fit(h: list[int], n: int, size: int, *, keep_rest: bool) -> bool:
    """Put work of ``size`` on the nodes of ``n`` devices counted in ``h`` (nodes by free
    devices): on the node with the fewest free that holds it or, larger than a node, on
    whole nodes, the devices it leaves on the last one free with ``keep_rest`` (as the site
    sees them), else taken too (as the node pools count them). ``False``: no room, ``h``
    unchanged."""
    if size <= n:
        k = next((k for k in range(size, n + 1) if h[k]), None)
        if k is None:
            return False
        h[k] -= 1
        h[k - size] += 1
        return True
    nodes = math.ceil(size / n)
    if h[n] < nodes:
        return False
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

    ``caps``: each pool's capacity in devices (one node each, except the last when
    ``gang`` is set: the whole nodes set aside for work larger than a node, in devices);
    ``gang``: whether that last pool exists.
    """

    caps: IntArray
    gang: bool


def node_pools(shape: NodeShape, sizes: IntArray, *, set_aside: bool = True) -> NodePools:
    """The node pools for candidate work of device counts ``sizes`` on ``shape``.

    Each node with free devices is a pool of its own (a workload of at most a node's devices
    goes on one node), but of ``n`` identical nodes only as many as there are candidates
    that fit on one of them: each node used holds at least one, and identical nodes are
    interchangeable, so no plan needs more. Work larger than a node shares one pool of the
    whole free nodes it can use, set aside from the rest (as many as it needs together).
    With ``set_aside`` false those whole nodes are also offered as node pools: a relaxation
    (the nodes count twice) whose bound holds for the problem itself.
    """
    s = shape.node_size
    small = np.sort(sizes[sizes <= s])
    big = sizes[sizes > s]
    gang_nodes = min(shape.whole, int(np.ceil(big / s).sum())) if big.size else 0
    caps: list[int] = []
    for k in range(1, s + 1):
        nodes = shape.nodes_by_free[k] - (gang_nodes if k == s and set_aside else 0)
        fitting = int(np.searchsorted(small, k, side="right"))
        caps += [k] * min(nodes, fitting)
    if gang_nodes:
        caps.append(gang_nodes * s)
    return NodePools(caps=np.array(caps, dtype=np.int64), gang=gang_nodes > 0)
