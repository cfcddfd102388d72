"""The replay's nodes: how each (site, model)'s devices sit on machines, drawn from a real
node list, and which node each running job holds.

**Drawing.** Each (site, model)'s free devices (healthy − in use by others) are laid on
nodes whose GPU counts are drawn, with a seed, uniformly with replacement from the nodes of
a real node list (the Alibaba openb GPU nodes: 617 of 8 GPUs, 518 of 2, 54 of 4, 24 of 1),
one draw per node until the devices are covered; the last node's devices beyond them are
counted as used by others (a partly used node from the start). So about four devices in five
sit on 8-GPU nodes and the rest on 1-, 2- and 4-GPU ones, in proportion to the real fleet.

**Shape.** A (site, model)'s :class:`~solver.capacity.NodeShape` has its largest node's size
as ``node_size`` and counts each node by its free devices: a 2-GPU node with both free is a
node with 2 free, so it takes work of at most 2 devices; work larger than ``node_size`` takes
whole nodes of that size.

**Choice of node.** The solver says which (site, model), not which node: the replay lays
each placement on a node itself, the largest work first, with ``fit``:

- ``best``: the node with the fewest free devices that holds the work (fragments fill first);
- ``first``: the first such node in the site's order;
- ``worst``: the node with the most free devices (spreading the work).

Work larger than a node takes the first whole nodes it needs.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solver import NodeShape

FITS = ("best", "first", "worst")
"""How a placement's node is chosen within its (site, model)."""

Key = tuple[str, str]
"""(site id, model)."""
Layout = Mapping[Key, tuple[tuple[int, int], ...]]
"""Per (site, model), its nodes at the start as (GPUs on the node, of them free)."""


def read_node_sizes(path: Path) -> list[int]:
    """The GPU count of every GPU node in a node list CSV (column ``gpu``)."""
    with path.open(newline="") as f:
        return [int(row["gpu"]) for row in csv.DictReader(f) if int(row["gpu"]) > 0]


def draw_layout(free: Mapping[Key, int], sizes: Sequence[int], *, seed: int) -> Layout:
    """Nodes for each (site, model)'s ``free`` devices, sizes drawn from ``sizes`` with
    ``seed`` (see the module's doc); keys in sorted order, so the draw is reproducible."""
    if not sizes:
        raise ValueError("the node list has no GPU nodes")
    rng = random.Random(seed)
    layout: dict[Key, tuple[tuple[int, int], ...]] = {}
    for key in sorted(free):
        left = free[key]
        nodes: list[tuple[int, int]] = []
        while left > 0:
            size = rng.choice(sizes)
            nodes.append((size, min(size, left)))
            left -= size
        layout[key] = tuple(nodes)
    return layout


Holding = tuple[tuple[int, int], ...]
"""The nodes a job holds in its (site, model): (node index, devices)."""


@dataclass(slots=True)
class Nodes:
    """One (site, model)'s nodes: each one's size and free devices now."""

    size: np.ndarray
    free: np.ndarray

    @classmethod
    def of(cls, nodes: Iterable[tuple[int, int]]) -> Nodes:
        pairs = list(nodes)
        return cls(
            size=np.array([s for s, _ in pairs], dtype=np.int64),
            free=np.array([f for _, f in pairs], dtype=np.int64),
        )

    def copy(self) -> Nodes:
        return Nodes(size=self.size, free=self.free.copy())

    @property
    def node_size(self) -> int:
        return int(self.size.max(initial=1))

    def shape(self) -> NodeShape:
        """The free devices node by node, as the solver reads them."""
        s = self.node_size
        counts = np.bincount(self.free, minlength=s + 1)
        return NodeShape(node_size=s, nodes_by_free=tuple(int(c) for c in counts))

    def place(self, devices: int, fit: str) -> Holding | None:
        """Take ``devices`` on one node chosen by ``fit``, or on whole nodes when it needs
        more than a node holds; ``None`` (and nothing taken) when the nodes cannot."""
        s = self.node_size
        if devices <= s:
            fits = np.flatnonzero(self.free >= devices)
            if not fits.size:
                return None
            if fit == "best":
                node = int(fits[np.argmin(self.free[fits])])
            elif fit == "worst":
                node = int(fits[np.argmax(self.free[fits])])
            else:
                node = int(fits[0])
            self.free[node] -= devices
            return ((node, devices),)
        need = math.ceil(devices / s)
        whole = np.flatnonzero((self.size == s) & (self.free == s))
        if whole.size < need:
            return None
        taken = []
        left = devices
        for node in whole[:need].tolist():
            n = min(s, left)
            self.free[node] -= n
            taken.append((node, n))
            left -= n
        return tuple(taken)

    def release(self, holding: Holding) -> None:
        for node, n in holding:
            self.free[node] += n

    def fragmented(self) -> int:
        """Free devices on partly used nodes."""
        part = (self.free > 0) & (self.free < self.size)
        return int(self.free[part].sum())

    def stranded(self, smallest: int) -> int:
        """Free devices on partly used nodes with fewer free than ``smallest``."""
        part = (self.free > 0) & (self.free < self.size) & (self.free < smallest)
        return int(self.free[part].sum())


def misfits(nodes: Nodes, sizes: Iterable[int], fit: str = "best") -> int:
    """How many of the work ``sizes`` cannot be laid on a copy of ``nodes`` (largest first,
    nodes chosen by ``fit``)."""
    trial = nodes.copy()
    return sum(trial.place(n, fit) is None for n in sorted(sizes, reverse=True))
