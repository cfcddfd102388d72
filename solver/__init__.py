"""netrouter's optimizer: pure placement models over plain data (no I/O).

Build a :class:`Problem` from :class:`Site` and :class:`Workload` values, then call
:func:`solve` for the optimal plan or a baseline from :mod:`solver.baselines` to compare.
"""

from solver.baselines import cheapest_first, nearest_site
from solver.costs import CostTable, PairCost, build_cost_table
from solver.cpsat import SolverConfig, solve
from solver.errors import InvalidProblemError, SolverError
from solver.model import Assignment, Plan, Problem, Site, Unplaced, Workload

__all__ = [
    "Assignment",
    "CostTable",
    "InvalidProblemError",
    "PairCost",
    "Plan",
    "Problem",
    "Site",
    "SolverConfig",
    "SolverError",
    "Unplaced",
    "Workload",
    "build_cost_table",
    "cheapest_first",
    "nearest_site",
    "solve",
]
