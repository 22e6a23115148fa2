"""Time splits: the single holdout and rolling-origin folds (train strictly before test)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmm_evidence.config import EvaluationSettings

if TYPE_CHECKING:
    from mmm_evidence.data.panel import Panel


@dataclass(frozen=True)
class Split:
    """Train on weeks [0, train_end), test on weeks [train_end, test_end)."""

    name: str
    train_end: int
    test_end: int

    @property
    def test_weeks(self) -> int:
        return self.test_end - self.train_end

    def as_dict(self) -> dict:
        return {"name": self.name, "train_weeks": self.train_end,
                "test_start": self.train_end, "test_end": self.test_end}


def holdout_split(n_weeks: int, holdout_weeks: int) -> Split:
    """The last `holdout_weeks` weeks as the test set."""
    if not 0 < holdout_weeks < n_weeks:
        raise ValueError(f"evaluation.holdout_weeks={holdout_weeks} must be between 1 and the "
                         f"{n_weeks} weeks of data minus one")
    return Split("holdout", n_weeks - holdout_weeks, n_weeks)


def rolling_origin_splits(n_weeks: int, folds: int, horizon: int, min_train: int) -> list[Split]:
    """`folds` consecutive forecast origins, each testing the next `horizon` weeks; the last
    fold ends at the last week. Folds whose training window would be shorter than
    `min_train` weeks are dropped (fewer folds, never a shorter training window)."""
    if folds < 1 or horizon < 1:
        raise ValueError(f"folds={folds} and horizon={horizon} must be at least 1")
    out = []
    for k in range(folds, 0, -1):
        train_end = n_weeks - k * horizon
        if train_end >= min_train:
            out.append(Split(f"fold{len(out) + 1}", train_end, train_end + horizon))
    return out


def cv_splits(n_weeks: int, evaluation: EvaluationSettings) -> list[Split]:
    """The evaluation's rolling-origin folds over `n_weeks` weeks."""
    return rolling_origin_splits(n_weeks, evaluation.cv_folds, evaluation.cv_horizon_weeks,
                                 evaluation.cv_min_train_weeks)


def evaluation_splits(n_weeks: int, evaluation: EvaluationSettings) -> list[Split]:
    """The validation notebook's splits: the holdout, then the rolling-origin folds."""
    return [holdout_split(n_weeks, evaluation.holdout_weeks), *cv_splits(n_weeks, evaluation)]


def check_split_sizes(panel: Panel, evaluation: EvaluationSettings, source: str,
                      kpi: str) -> None:
    """Raise DataError when a tenant sized by its mean KPI (no ``segment_size``) has a segment
    without KPI in the training weeks of a split: its size there, the mean KPI of those weeks,
    is 0, and every fit of that split would stop. The shortest training weeks decide (a
    longer prefix holds them); the error names the segments and the split."""
    from mmm_evidence.data.panel import kpi_size
    from mmm_evidence.data.schema import DataError

    if not panel.size_from_kpi:
        return
    first = min(evaluation_splits(panel.n_weeks, evaluation), key=lambda s: s.train_end)
    try:
        kpi_size(panel.kpi[:, :first.train_end], panel.segments,
                 panel.dates[:first.train_end])
    except ValueError as exc:
        raise DataError(f"{source}: column {kpi!r}: the {first.name} split trains on the first "
                        f"{first.train_end} weeks, and {exc}") from None
