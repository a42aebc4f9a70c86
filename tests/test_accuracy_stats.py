"""Statistics of the accuracy harness against published values.

Sources of the reference numbers:
* Wilson intervals: Newcombe (1998), "Two-sided confidence intervals for the single
  proportion", Statistics in Medicine 17:857-872, method 3 examples (81/263, 15/148,
  0/20, 1/29).
* Paired table (59, 6, 16, 80) of Cavo et al. (2012) as analysed in Fagerland, Lydersen &
  Laake, "Statistical Analysis of Contingency Tables" (2017), chapter 8: exact conditional
  McNemar p = 0.052479, Newcombe square-and-add interval -0.1186 to -0.0046.
"""

from __future__ import annotations

import math

import pytest

from bench.accuracy.plot import cost_curves
from bench.accuracy.stats import (
    PairedTable,
    mcnemar_exact_p,
    min_detectable_difference,
    paired_difference_interval,
    paired_table,
    wilson_interval,
    z_value,
)
from bench.accuracy.summary import ArmSummary


@pytest.mark.parametrize(
    ("successes", "n", "lower", "upper"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_published_values(
    successes: int, n: int, lower: float, upper: float
) -> None:
    low, high = wilson_interval(successes, n)
    assert low == pytest.approx(lower, abs=5e-5)
    assert high == pytest.approx(upper, abs=5e-5)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    low, high = wilson_interval(5, 10)
    assert low + high == pytest.approx(1.0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_z_value() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError):
        z_value(1.0)


@pytest.mark.parametrize(
    ("won", "lost", "p"),
    [
        (6, 16, 0.052479),
        (16, 6, 0.052479),
        (10, 2, 158 / 4096),
        (0, 5, 2 / 32),
        (3, 3, 1.0),
        (0, 0, 1.0),
        (0, 1, 1.0),
    ],
)
def test_mcnemar_exact(won: int, lost: int, p: float) -> None:
    assert mcnemar_exact_p(won, lost) == pytest.approx(p, abs=5e-7)


def test_paired_interval_published_example() -> None:
    table = PairedTable(both=59, won=6, lost=16, neither=80)
    assert table.n == 161
    assert table.difference == pytest.approx(-0.0621, abs=5e-5)
    low, high = paired_difference_interval(table)
    assert low == pytest.approx(-0.1186, abs=5e-5)
    assert high == pytest.approx(-0.0046, abs=5e-5)


def test_paired_interval_is_antisymmetric_and_bounded() -> None:
    forward = paired_difference_interval(PairedTable(30, 12, 4, 14))
    backward = paired_difference_interval(PairedTable(30, 4, 12, 14))
    assert forward[0] == pytest.approx(-backward[1])
    assert forward[1] == pytest.approx(-backward[0])
    assert forward[0] < (12 - 4) / 60 < forward[1]
    everything = paired_difference_interval(PairedTable(0, 20, 0, 0))
    assert -1.0 <= everything[0] <= everything[1] <= 1.0
    assert paired_difference_interval(PairedTable(0, 0, 0, 0)) == (-1.0, 1.0)
    same = paired_difference_interval(PairedTable(10, 0, 0, 10))
    assert same[0] < 0.0 < same[1]


def test_paired_table_from_aligned_lists() -> None:
    arm = [True, True, False, False, True]
    base = [True, False, True, False, False]
    assert paired_table(arm, base) == PairedTable(both=1, won=2, lost=1, neither=1)
    with pytest.raises(ValueError):
        paired_table([True], [])


def test_min_detectable_difference_solves_connors_formula() -> None:
    n, rate = 100, 0.2
    delta = min_detectable_difference(n, rate)
    assert delta is not None
    z_a, z_b = 1.959964, 0.841621
    needed = (z_a * math.sqrt(rate) + z_b * math.sqrt(rate - delta**2)) ** 2 / delta**2
    assert needed == pytest.approx(n, rel=1e-6)
    # The rule of thumb (z_a + z_b) * sqrt(rate / n) is slightly conservative.
    assert delta == pytest.approx(0.1238, abs=5e-4)
    assert delta < (z_a + z_b) * math.sqrt(rate / n)


def test_min_detectable_difference_shrinks_with_n_and_handles_edges() -> None:
    small = min_detectable_difference(50, 0.3)
    large = min_detectable_difference(400, 0.3)
    assert small is not None and large is not None
    assert large < small
    assert large == pytest.approx(small / math.sqrt(8), rel=0.1)
    assert min_detectable_difference(100, 0.0) is None
    assert min_detectable_difference(0, 0.2) is None
    assert min_detectable_difference(2, 0.2) is None


def test_the_plot_draws_cepo_and_self_consistency_as_two_cost_curves() -> None:
    def arm(name: str, tokens: float) -> ArmSummary:
        return ArmSummary("m", "gsm8k", name, 10, 5, 0, (0.2, 0.8), 1.0, tokens, None, 1.0, 1.0)

    arms = [arm("baseline", 300), arm("low", 1300), arm("medium", 5700), arm("sc27", 7900)]
    arms.append(arm("sc6", 1700))
    lines = {style: [a.arm for a in line] for style, line in cost_curves(arms)}
    assert lines == {"-": ["baseline", "low", "medium"], "--": ["baseline", "sc6", "sc27"]}
    assert cost_curves([arm("baseline", 300), arm("low", 1300)]) == [("-", arms[:2])]
