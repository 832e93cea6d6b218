"""The array types every layer shares, in a module that imports nothing of bondmodel.

They live here, not in ``timeline.py``, so a module that only needs the type (the
distributions, the samplers, the metrics) does not import the timeline and, through it,
the scenario schema: the layers import downwards only (tests/test_layers.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: float64 arrays: money, rates, factors, one value per path and/or period.
FloatArray = npt.NDArray[np.float64]
#: int64 arrays: indices and counts.
IntArray = npt.NDArray[np.int64]
#: bool arrays: flags per path and/or period.
BoolArray = npt.NDArray[np.bool_]
