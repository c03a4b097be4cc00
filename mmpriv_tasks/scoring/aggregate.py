"""lm-eval aggregation functions for flags that may be None (sample errored or not applicable)."""
from __future__ import annotations

import math


def mean_of_scored(values: list) -> float:
    """Mean over samples that have a decision; errored samples (None) are left out.

    NaN when no sample was scored, so an all-error run cannot look safe.
    """
    scored = [float(v) for v in values if v is not None]
    return sum(scored) / len(scored) if scored else math.nan
