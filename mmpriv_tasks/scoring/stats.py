"""Sampling uncertainty of the rates our tasks report: pure functions, no I/O.

- :func:`binomial_stderr`: standard error of a rate over 0/1 flags, lm-eval's convention for ``mean``
  (sample standard deviation / sqrt(n));
- :func:`wilson`: 95 % Wilson score interval of a proportion (sensible at 0 and 1, unlike p +- 2 se);
- :func:`bootstrap_stderr`: seeded bootstrap of any statistic of a multiset (macro-F1, entropy, shares);
- :func:`mcnemar_exact`: exact two-sided McNemar p-value for paired 0/1 flags;
- :func:`paired_bootstrap`: difference of a statistic between two runs on the same items, its
  interval and a two-sided p-value (:func:`paired_flag_difference`: the same for 0/1 flags, vectorised);
- :func:`paired_permutation_p`: a p-value valid for few items;
- :func:`holm`: Holm's step-down correction of several p-values;
- :func:`minimum_detectable_difference`: the smallest difference in a rate that n items detect at 80 %
  power (two-sided 5 % test).

>>> binomial_stderr([1, 0, 1, 1])
0.25
>>> [round(x, 4) for x in wilson(0, 10)]
[0.0, 0.2775]
>>> mcnemar_exact(1, 6)
0.125
>>> holm([0.01, 0.04, 0.03])
[0.03, 0.06, 0.06]
"""
from __future__ import annotations

import math
from collections import Counter
from statistics import NormalDist
from typing import Callable, Hashable

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054
DEFAULT_SEED = 1234  # lm-eval's default numpy seed: a run's bootstrap is reproducible


def _stddev(xs: list[float]) -> float | None:
    xs = [x for x in xs if not math.isnan(x)]
    if len(xs) < 2:
        return None
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def binomial_stderr(flags: list) -> float | None:
    """Standard error of the mean of ``flags`` (None entries, unscored samples, left out): the sample
    standard deviation over sqrt(n), lm-eval's ``mean_stderr``; for 0/1 flags sqrt(p (1 - p) / (n - 1)).
    None when fewer than two flags are scored."""
    scored = [float(f) for f in flags if f is not None]
    spread = _stddev(scored)
    return None if spread is None else spread / math.sqrt(len(scored))


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes`` out of ``n`` (95 % by default); None when n = 0."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (0.0 if successes == 0 else centre - half), (1.0 if successes == n else centre + half)


def _replicates(counts: Counter, iters: int, seed: int):
    """``iters`` bootstrap resamples of the multiset ``counts`` (multinomial over its distinct values, the
    same law as drawing n items with replacement), each as a Counter; in chunks of 1000."""
    import numpy as np

    values, weights = list(counts), list(counts.values())
    n = sum(weights)
    rng = np.random.default_rng(seed)
    probabilities = np.asarray(weights, dtype=float) / n
    done = 0
    while done < iters:
        chunk = min(1000, iters - done)
        for row in rng.multinomial(n, probabilities, size=chunk):
            yield Counter({v: int(c) for v, c in zip(values, row) if c})
        done += chunk


def bootstrap_stderr(statistic: Callable[[Counter], float], counts: Counter, iters: int,
                     seed: int = DEFAULT_SEED) -> float | None:
    """Bootstrap standard error of ``statistic`` (a function of a multiset given as value -> count) over
    ``iters`` seeded resamples; None when fewer than two items or ``iters`` < 2."""
    if sum(counts.values()) < 2 or iters < 2:
        return None
    return _stddev([statistic(c) for c in _replicates(counts, iters, seed)])


def _binomial_tail(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), exactly."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value: ``only_a`` items flagged in run A only, ``only_b`` in B only
    (concordant items do not count). 1.0 when no item is discordant."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    return min(1.0, 2 * _binomial_tail(min(only_a, only_b), n))


def paired_flag_difference(pairs: list[tuple[int, int]], iters: int, seed: int = DEFAULT_SEED,
                           level: float = 0.95) -> dict:
    """:func:`paired_bootstrap` of the share of 1s for paired 0/1 flags ``(a, b)``, vectorised: only the
    discordant counts move the difference ``mean(a) - mean(b)``."""
    import numpy as np

    n = len(pairs)
    only_a = sum(1 for a, b in pairs if a == 1 and b == 0)
    only_b = sum(1 for a, b in pairs if a == 0 and b == 1)
    observed = (only_a - only_b) / n if n else math.nan
    if n < 2 or iters < 2:
        return {"n": n, "difference": observed, "low": None, "high": None, "p": None}
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, [only_a / n, only_b / n, 1 - (only_a + only_b) / n], size=iters)
    diffs = np.sort((draws[:, 0] - draws[:, 1]) / n)
    tail = (1 - level) / 2
    return {"n": n, "difference": observed, "low": float(diffs[int(tail * (iters - 1))]),
            "high": float(diffs[math.ceil((1 - tail) * (iters - 1))]),
            "p": min(1.0, 2 * min(int((diffs <= 0).sum()), int((diffs >= 0).sum())) / iters)}


def paired_bootstrap(statistic: Callable[[Counter], float], pairs: list[tuple[Hashable, Hashable]], iters: int,
                     seed: int = DEFAULT_SEED, level: float = 0.95) -> dict:
    """``statistic(A) - statistic(B)`` over paired items ``(a, b)`` (one per item, both runs scored),
    with its percentile interval and two-sided bootstrap p-value (twice the smaller share of resampled
    differences on either side of 0), resampling items with their pair kept together."""
    joint = Counter(pairs)

    def difference(sample: Counter) -> float:
        a, b = Counter(), Counter()
        for (x, y), count in sample.items():
            a[x] += count
            b[y] += count
        return statistic(a) - statistic(b)

    observed = difference(joint) if joint else math.nan
    if len(pairs) < 2 or iters < 2:
        return {"n": len(pairs), "difference": observed, "low": None, "high": None, "p": None}
    diffs = sorted(d for d in (difference(c) for c in _replicates(joint, iters, seed)) if not math.isnan(d))
    tail = (1 - level) / 2
    below, above = sum(d <= 0 for d in diffs), sum(d >= 0 for d in diffs)
    return {"n": len(pairs), "difference": observed, "low": diffs[int(tail * (len(diffs) - 1))],
            "high": diffs[math.ceil((1 - tail) * (len(diffs) - 1))],
            "p": min(1.0, 2 * min(below, above) / len(diffs))}


def paired_permutation_p(statistic: Callable[[Counter], float], pairs: list[tuple[Hashable, Hashable]], iters: int,
                         seed: int = DEFAULT_SEED) -> float | None:
    """Two-sided p-value of ``statistic(A) - statistic(B)`` under the null that A and B are exchangeable on
    each item: each pair is swapped with probability 1/2 (``iters`` seeded draws; (1 + hits) / (1 + iters),
    so never 0). Valid for small n, where a bootstrap p-value is not."""
    import numpy as np

    joint = Counter(pairs)
    if not joint or iters < 1:
        return None

    def difference(kept: dict, swapped: dict) -> float:
        a, b = Counter(), Counter()
        for (x, y), count in kept.items():
            a[x] += count
            b[y] += count
        for (x, y), count in swapped.items():
            a[y] += count
            b[x] += count
        return statistic(+a) - statistic(+b)

    observed = abs(difference(joint, {}))
    rng = np.random.default_rng(seed)
    keys, counts = list(joint), np.asarray(list(joint.values()))
    hits = 0
    for row in rng.binomial(counts, 0.5, size=(iters, len(keys))):
        swapped = {k: int(s) for k, s in zip(keys, row)}
        kept = {k: int(c) - swapped[k] for k, c in zip(keys, counts)}
        hits += abs(difference(kept, swapped)) >= observed - 1e-12
    return (1 + hits) / (1 + iters)


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (same order; None stays None): the k-th smallest of m is multiplied by
    m - k + 1, then made non-decreasing."""
    ranked = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(ranked):
        running = max(running, min(1.0, (len(ranked) - k) * p))
        adjusted[i] = running
    return adjusted


def _power(p1: float, p2: float, n: int, alpha: float) -> float:
    """Power of the two-sided z-test of p1 vs p2 with n items per run (independent samples)."""
    normal = NormalDist()
    pooled = (p1 + p2) / 2
    null_sd = math.sqrt(2 * pooled * (1 - pooled) / n)
    alt_sd = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n)
    if alt_sd == 0:
        return 1.0 if p1 != p2 else 0.0
    return normal.cdf((abs(p1 - p2) - normal.inv_cdf(1 - alpha / 2) * null_sd) / alt_sd)


def minimum_detectable_difference(n: int, baseline: float, power: float = 0.8, alpha: float = 0.05) -> float | None:
    """The smallest change of a rate from ``baseline`` that a two-sided test at ``alpha`` detects with
    ``power``, with ``n`` items per run. The change is taken towards 0.5 (the direction with more
    variance, so the larger of the two); None when even a change to 0 or 1 is not enough or n = 0.
    Conservative for two models on the same items (a paired test gains when their answers agree).

    >>> round(minimum_detectable_difference(600, 0.5), 3)
    0.081
    """
    direction, room = (1, 1 - baseline) if baseline < 0.5 else (-1, baseline)
    if n <= 0 or _power(baseline, baseline + direction * room, n, alpha) < power:
        return None
    low, high = 0.0, room
    for _ in range(50):  # bisection: power grows with the change
        mid = (low + high) / 2
        low, high = (mid, high) if _power(baseline, baseline + direction * mid, n, alpha) < power else (low, mid)
    return high
