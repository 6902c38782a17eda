"""The acceptance policy and the verdicts it gives: pass, inconclusive or fail per metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

PASS, INCONCLUSIVE, FAIL = "pass", "inconclusive", "fail"
_SEVERITY = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}


@dataclass(frozen=True)
class FairnessPolicy:
    """Acceptance bands for the group fairness metrics and the minimum group size."""

    disparate_impact_min: float = 0.8
    disparate_impact_max: float = 1.25
    statistical_parity_difference_max: float = 0.1
    equal_opportunity_difference_max: float = 0.1
    average_odds_difference_max: float = 0.1
    min_group_size: int = 30
    confidence_level: float = 0.95

    def __post_init__(self) -> None:
        if not 0 < self.disparate_impact_min <= 1 <= self.disparate_impact_max:
            raise ValueError("disparate impact band must satisfy 0 < min <= 1 <= max")
        for name in (
            "statistical_parity_difference_max",
            "equal_opportunity_difference_max",
            "average_odds_difference_max",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if isinstance(self.min_group_size, bool) or not isinstance(self.min_group_size, int):
            raise ValueError("min_group_size must be an integer")
        if self.min_group_size < 0:
            raise ValueError("min_group_size must not be negative")
        if not 0 < self.confidence_level < 1:
            raise ValueError("confidence_level must be between 0 and 1")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FairnessPolicy:
        """Build a policy from a stored dict; missing keys take defaults, unknown keys fail."""
        data = dict(data or {})
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fairness policy keys: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Return the policy as a JSON-serialisable dict."""
        return asdict(self)

    def band(self, metric: str) -> tuple[float, float]:
        """Return the inclusive acceptance band of a metric."""
        if metric == "disparate_impact":
            return (self.disparate_impact_min, self.disparate_impact_max)
        limit = getattr(self, f"{metric}_max")
        return (-limit, limit)


def metric_verdict(
    metric: str,
    value: float | None,
    interval: list[float] | None,
    *,
    groups_large_enough: bool,
    policy: FairnessPolicy,
) -> tuple[str, str]:
    """Apply the policy to one metric: verdict and a short reason."""
    low, high = policy.band(metric)
    if value is None:
        return INCONCLUSIVE, "undefined (a group has no rows or no cases to compare)"
    if not groups_large_enough:
        return INCONCLUSIVE, f"a group has fewer than {policy.min_group_size} rows"
    if not low <= value <= high:
        return FAIL, f"{value:.4g} is outside [{low:g}, {high:g}]"
    if interval is None:
        return INCONCLUSIVE, "no confidence interval (bootstrap off or undefined replicates)"
    if low <= interval[0] and interval[1] <= high:
        return PASS, f"interval inside [{low:g}, {high:g}]"
    return INCONCLUSIVE, f"interval straddles a bound of [{low:g}, {high:g}]"


def worst(verdicts: Sequence[str]) -> str:
    """Combine verdicts: fail beats inconclusive beats pass; nothing to judge is inconclusive."""
    return max(verdicts, key=_SEVERITY.__getitem__) if verdicts else INCONCLUSIVE
