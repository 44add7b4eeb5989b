# SPDX-License-Identifier: Apache-2.0
"""Sample-ratio mismatch (SRM): do an experiment's exposures split the way its weights say?

A chi-square goodness-of-fit test of the exposures per variant against the declared shares
(``llmperf.experiment.weight``). A mismatch (p below :data:`SRM_ALPHA`, the customary 0.001)
means assignment or logging is broken somewhere (a variant that crashes before it is counted,
a bot filtered in one arm only, a cache that answers one arm), and every A/B comparison of that
experiment is suspect until it is explained.

The test is valid only when every expected count is at least :data:`MIN_EXPECTED` (Cochran's
rule); below that the result is "not enough data". Exposures in a variant whose declared share
is 0 are a mismatch by themselves (p = 0): units were assigned where none should be.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

SRM_ALPHA: Final = 0.001
MIN_EXPECTED: Final = 5.0

MISMATCH: Final = "mismatch"
OK: Final = "ok"
NOT_ENOUGH: Final = "not enough data"


@dataclass(frozen=True)
class SrmResult:
    """The SRM check of one experiment over the report's range."""

    experiment: str
    observed: dict[str, float]  # exposures per variant
    expected_share: dict[str, float]  # declared share per variant (0 for undeclared variants)
    total: float
    chi2: float | None  # None when not tested
    dof: int
    p_value: float | None
    status: str  # MISMATCH, OK or NOT_ENOUGH

    @property
    def observed_share(self) -> dict[str, float]:
        """Each variant's share of the exposures."""
        return {name: (count / self.total if self.total else 0.0) for name, count in self.observed.items()}

    def message(self) -> str:
        """One line saying what the check found."""
        if self.status == NOT_ENOUGH:
            return (
                f"{self.experiment}: not enough data for a sample-ratio check ({self.total:,.0f} exposures; "
                f"every variant needs {MIN_EXPECTED:g} expected)"
            )
        split = ", ".join(
            f"{name} {share:.1%} (expected {self.expected_share.get(name, 0.0):.1%})"
            for name, share in self.observed_share.items()
        )
        p = f"p = {self.p_value:.2g}" if self.p_value is not None else ""
        if self.status == MISMATCH:
            return (
                f"SAMPLE RATIO MISMATCH in {self.experiment}: {split}; chi-square {p} < {SRM_ALPHA:g}. "
                "Assignment or exposure logging is broken: do not trust the A/B comparison until it is explained."
            )
        return f"{self.experiment}: exposures match the declared weights ({split}; {p})"


def chi_square(observed: Mapping[str, float], shares: Mapping[str, float]) -> tuple[float, int]:
    """Pearson's statistic and degrees of freedom of ``observed`` against ``shares`` (normalised here)."""
    total_share = sum(share for share in shares.values() if share > 0)
    total = sum(observed.values())
    statistic = 0.0
    tested = 0
    if total <= 0 or total_share <= 0:
        return 0.0, max(sum(1 for share in shares.values() if share > 0) - 1, 0)
    for name in sorted({*observed, *shares}):
        share = shares.get(name, 0.0)
        count = observed.get(name, 0.0)
        if share > 0:
            expected = total * share / total_share
            statistic += (count - expected) ** 2 / expected
            tested += 1
        elif count > 0:
            statistic = math.inf  # exposures where the declaration allows none
    return statistic, max(tested - 1, 0)


def srm_test(experiment: str, observed: Mapping[str, float], shares: Mapping[str, float]) -> SrmResult:
    """The SRM check of ``experiment``: exposures per variant against declared shares."""
    from scipy.stats import chi2 as chi2_distribution

    total = float(sum(observed.values()))
    positive = {name: share for name, share in shares.items() if share > 0}
    total_share = sum(positive.values())
    expected_share = {
        name: (shares.get(name, 0.0) / total_share if total_share else 0.0) for name in {*shares, *observed}
    }
    ordered = dict(sorted(observed.items()))
    for name in shares:
        ordered.setdefault(name, 0.0)
    statistic, dof = chi_square(ordered, shares)
    if math.isinf(statistic) and total > 0:
        return SrmResult(experiment, ordered, expected_share, total, statistic, dof, 0.0, MISMATCH)
    if len(positive) == 1 and total > 0:  # one arm takes every unit: nothing can be out of ratio
        return SrmResult(experiment, ordered, expected_share, total, 0.0, 0, 1.0, OK)
    if (
        not positive
        or len(positive) < 2
        or min(total * share / total_share for share in positive.values()) < MIN_EXPECTED
    ):
        return SrmResult(experiment, ordered, expected_share, total, None, dof, None, NOT_ENOUGH)
    p_value = float(chi2_distribution.sf(statistic, dof))
    status = MISMATCH if p_value < SRM_ALPHA else OK
    return SrmResult(experiment, ordered, expected_share, total, statistic, dof, p_value, status)
