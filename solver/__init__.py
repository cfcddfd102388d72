"""netrouter's optimizer: pure placement models over plain data (no I/O).

Build a :class:`Problem` from :class:`Site` and :class:`Workload` values, then call
:func:`solve` for a certified plan, or a baseline from :mod:`solver.baselines` to compare.
"""

from solver.assembly import solve
from solver.baselines import BASELINES, cheapest_first, nearest_site, run_baseline, spread
from solver.capacity import NodeShape
from solver.errors import InvalidProblemError, SolverError
from solver.model import (
    REASON_KINDS,
    Alternative,
    Assignment,
    Plan,
    Problem,
    Site,
    Unplaced,
    Workload,
)
from solver.pipeline import SolverConfig
from solver.table import Table, build_table

__all__ = [
    "BASELINES",
    "REASON_KINDS",
    "Alternative",
    "Assignment",
    "InvalidProblemError",
    "NodeShape",
    "Plan",
    "Problem",
    "Site",
    "SolverConfig",
    "SolverError",
    "Table",
    "Unplaced",
    "Workload",
    "build_table",
    "cheapest_first",
    "nearest_site",
    "run_baseline",
    "solve",
    "spread",
]
