"""Tiny tenants and frames for the data tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mmm_evidence.config import TenantConfig

DATES = ["2023-01-02", "2023-01-09", "2023-01-16", "2023-01-23", "2023-01-30", "2023-02-06"]
SEGMENTS = ["north", "south"]


def make_tenant(**overrides: object) -> TenantConfig:
    """A CSV tenant with channels tv and search and one control, price_index."""
    fields: dict = {
        "name": "acme",
        "channels": ["tv", "search"],
        "controls": ["price_index"],
        "data": {"source": {"csv": "acme.csv"}},
    }
    fields.update(overrides)
    return TenantConfig.model_validate(fields)


def make_frame(dates: list[str] = DATES, segments: list[str] = SEGMENTS) -> pd.DataFrame:
    """A valid raw frame as text, ordered date-major: row i is CSV line i + 2.

    Row 0 = (2023-01-02, north), row 1 = (2023-01-02, south), row 2 = (2023-01-09, north), ...
    """
    rows = []
    for w, date in enumerate(dates):
        for g, segment in enumerate(segments):
            rows.append({
                "date": date,
                "segment": segment,
                "revenue": str(1000.0 + 100 * g + w),
                "spend_tv": str(50.0 + w),
                "spend_search": str(20.0 + g),
                "price_index": str(1.0 + 0.01 * w),
                "notes": "ignored",
            })
    return pd.DataFrame(rows, dtype=str)


@pytest.fixture
def tenant() -> TenantConfig:
    return make_tenant()


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write a frame (or raw text) to tmp_path/<name> and return the path."""

    def write(data: pd.DataFrame | str, name: str = "acme.csv") -> Path:
        path = tmp_path / name
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            data.to_csv(path, index=False)
        return path

    return write


@pytest.fixture
def tenant_factory() -> Callable[..., TenantConfig]:
    return make_tenant


@pytest.fixture
def frame_factory() -> Callable[..., pd.DataFrame]:
    return make_frame
