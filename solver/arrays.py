"""The NumPy array types and numeric tolerances shared by every solver module."""

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
Int16Array = npt.NDArray[np.int16]
UInt8Array = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]

EPS = 1e-9
"""Tolerance of cost comparisons, relative to the magnitudes compared (at least 1): costs
are sums of a few rounded products, so a difference below this is rounding, not saving."""

INTEGRALITY_TOL = 1e-6
"""An LP or flow value within this of an integer counts as that integer: the simplex and
flow solvers meet their own tolerances to about this, not to the last bit."""
