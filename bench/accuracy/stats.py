"""Statistics for accuracy: pure functions of counts, standard library only.

* :func:`wilson_interval` — the Wilson score interval for one proportion (no continuity
  correction).
* :func:`mcnemar_exact_p` — the exact (conditional) McNemar test: under the null
  hypothesis each discordant item is equally likely to be won or lost, so the two-sided
  p-value is ``min(1, 2 * P[Binomial(b + c, 1/2) <= min(b, c)])``.
* :func:`paired_difference_interval` — Newcombe's (1998) method 10 for the difference
  of two paired proportions: the Wilson intervals of both marginal accuracies combined
  "square-and-add" style, with the correlation term ``phi`` of the 2x2 table (its
  numerator ``ad - bc`` reduced by ``n/2`` when positive, and set to 0 when that makes
  it negative, as in the paper).
* :func:`min_detectable_difference` — the smallest paired difference that ``n`` items
  detect with the given power, from Connor's (1987) sample-size formula for McNemar's
  test: ``n = (z_{1-α/2} √ψ + z_{1-β} √(ψ - δ²))² / δ²`` where ``ψ`` is the share of
  discordant items (items that exactly one of the two arms gets right). It is solved for
  ``δ`` by bisection. Rule of thumb: ``δ ≈ (z_{1-α/2} + z_{1-β}) √(ψ / n)``, which is
  slightly larger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


def z_value(confidence: float = 0.95) -> float:
    """The two-sided standard normal quantile: 1.959964 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for ``successes / n``; ``(0.0, 1.0)`` when ``n == 0``."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denominator
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return lower, upper


def mcnemar_exact_p(won: int, lost: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts; 1.0 when there are none."""
    if won < 0 or lost < 0:
        raise ValueError(f"counts must be non-negative, got {won}, {lost}")
    discordant = won + lost
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, k) for k in range(min(won, lost) + 1))
    return min(1.0, 2.0 * tail / 2.0**discordant)


@dataclass(frozen=True, slots=True)
class PairedTable:
    """Outcomes of two arms on the same items.

    ``both`` right, ``won`` (this arm right, baseline wrong), ``lost`` (this arm wrong,
    baseline right), ``neither`` right.
    """

    both: int
    won: int
    lost: int
    neither: int

    @property
    def n(self) -> int:
        """Number of paired items."""
        return self.both + self.won + self.lost + self.neither

    @property
    def difference(self) -> float:
        """Accuracy of the arm minus accuracy of the baseline; 0.0 with no items."""
        return (self.won - self.lost) / self.n if self.n else 0.0

    @property
    def discordant_rate(self) -> float:
        """Share of items exactly one of the two arms got right."""
        return (self.won + self.lost) / self.n if self.n else 0.0


def paired_table(arm_correct: list[bool], baseline_correct: list[bool]) -> PairedTable:
    """Count the 2x2 table of two equally long, item-aligned correctness lists."""
    if len(arm_correct) != len(baseline_correct):
        raise ValueError("the two lists must be aligned on the same items")
    pairs = list(zip(arm_correct, baseline_correct, strict=True))
    return PairedTable(
        both=sum(1 for a, b in pairs if a and b),
        won=sum(1 for a, b in pairs if a and not b),
        lost=sum(1 for a, b in pairs if not a and b),
        neither=sum(1 for a, b in pairs if not a and not b),
    )


def paired_difference_interval(table: PairedTable, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's method-10 interval for ``table.difference``; ``(-1.0, 1.0)`` with no items."""
    n = table.n
    if n == 0:
        return -1.0, 1.0
    arm_right = table.both + table.won
    base_right = table.both + table.lost
    p1, p2 = arm_right / n, base_right / n
    l1, u1 = wilson_interval(arm_right, n, confidence)
    l2, u2 = wilson_interval(base_right, n, confidence)
    margins = arm_right * (n - arm_right) * base_right * (n - base_right)
    phi = 0.0
    if margins > 0:
        cross = table.both * table.neither - table.won * table.lost
        if cross > n / 2:
            phi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    difference = p1 - p2
    return max(-1.0, difference - below), min(1.0, difference + above)


def _connor_n(delta: float, discordant_rate: float, z_alpha: float, z_beta: float) -> float:
    rest = max(0.0, discordant_rate - delta * delta)
    return (z_alpha * math.sqrt(discordant_rate) + z_beta * math.sqrt(rest)) ** 2 / delta**2


def min_detectable_difference(
    n: int, discordant_rate: float, *, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest paired accuracy difference ``n`` items detect (two-sided ``alpha``, ``power``).

    ``discordant_rate`` is the expected share of items on which the two arms disagree
    (observed, or assumed when planning). Returns None when no difference up to
    ``sqrt(discordant_rate)`` (the largest the formula allows) is detectable, e.g. when
    ``discordant_rate`` is 0 or ``n`` is tiny.
    """
    if n <= 0 or not 0.0 < discordant_rate <= 1.0:
        return None
    z_alpha = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    z_beta = NormalDist().inv_cdf(power)
    high = math.sqrt(discordant_rate)
    if _connor_n(high, discordant_rate, z_alpha, z_beta) > n:
        return None
    low = 0.0
    for _ in range(100):
        middle = (low + high) / 2.0
        if middle > 0.0 and _connor_n(middle, discordant_rate, z_alpha, z_beta) <= n:
            high = middle
        else:
            low = middle
    return high
