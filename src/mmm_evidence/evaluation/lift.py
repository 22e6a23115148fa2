"""Lift tests against the model: measured incremental KPI vs what the model implies."""

from __future__ import annotations

from collections.abc import Sequence

from mmm_evidence.data.lift import LiftTest
from mmm_evidence.data.panel import Panel
from mmm_evidence.model.mmm import MMM


def compare_lift_tests(model: MMM, panel: Panel, tests: Sequence[LiftTest],
                       max_abs_z: float = 2.0) -> list[dict]:
    """Per test: the measured lift, the model's implied lift for the same spend change over the
    same weeks and segments, their ratio, and z = (implied − measured) / SE with
    ``consistent`` = |z| ≤ max_abs_z (None without an SE)."""
    rows = []
    for test in tests:
        implied = model.lift(panel, test)
        z = (implied - test.lift) / test.lift_se if test.lift_se else None
        rows.append({**test.as_dict(), "implied_lift": implied,
                     "ratio": implied / test.lift if test.lift else None, "z": z,
                     "consistent": None if z is None else abs(z) <= max_abs_z})
    return rows
