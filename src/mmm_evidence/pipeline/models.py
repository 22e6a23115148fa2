"""A tenant's fitted MMMs, shared by its notebooks through a JSON cache instead of refitted.

The validation, baselines, robustness, fairness and importance notebooks of one tenant all
need MMM v2 fitted on the same weeks with the same settings and seed: the holdout model (all
but the last ``holdout_weeks``), the rolling-origin fold models and the full-history model.
``tenant_models(...)`` returns a ``FittedModels`` whose ``fit(train_weeks)`` loads that model
from ``<output_dir>/.cache/models/<tenant>/<key>.json`` when it is there, and otherwise fits it
and writes it there (atomically: notebooks of one tenant may run at the same time).

The key is the SHA-256 of everything the fit depends on: the panel's data (dates, segments,
channels, controls, KPI, spend, sizes), the weeks fitted, the model settings, the seed, the
lift tests used for calibration, the package (version and source hash) and the numeric
libraries' versions — so a stale file is never used. The file holds the model's JSON beside
its key and SHA-256, checked when it is read: a file edited or truncated after it was written
is refitted and overwritten, never used. Whether fitted now or loaded, the model returned is
the one read back from its JSON (``MMM.to_json`` round-trips exactly), so every notebook
computes from bit-identical parameters either way.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mmm_evidence.config import ModelSettings
from mmm_evidence.data.lift import LiftTest
from mmm_evidence.data.panel import Panel
from mmm_evidence.model.mmm import MMM, MODEL_VERSION
from mmm_evidence.pipeline.cache import model_cache_dir

if TYPE_CHECKING:
    from mmm_evidence.config import ExperimentConfig

#: Bump when what goes into a model key or the layout of a cached model file changes.
MODEL_CACHE_FORMAT = 2

__all__ = ["FittedModels", "MODEL_CACHE_FORMAT", "model_cache_dir", "panel_fingerprint",
           "tenant_models"]


def panel_fingerprint(panel: Panel) -> str:
    """SHA-256 of the data a fit reads: names, dates, KPI, spend, controls and sizes (not the
    truth, the attributes or the source path)."""
    digest = hashlib.sha256()
    names = {"segments": list(panel.segments), "channels": list(panel.channels),
             "controls": list(panel.control_names), "kpi": panel.kpi_name}
    digest.update(json.dumps(names, sort_keys=True).encode())
    digest.update(np.asarray(panel.dates.asi8, dtype="<i8").tobytes())
    for array in (panel.kpi, panel.spend, panel.controls, panel.size):
        a = np.ascontiguousarray(np.asarray(array, dtype="<f8"))
        digest.update(str(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _lift_test_record(test: LiftTest) -> dict:
    return {"channel": test.channel, "start": str(test.start), "end": str(test.end),
            "spend_change": test.spend_change, "lift": test.lift, "lift_se": test.lift_se,
            "segments": list(test.segments) if test.segments else None,
            "cooldown_weeks": test.cooldown_weeks, "label": test.label}


class FittedModels:
    """MMM v2 fits of one panel on its first ``train_weeks`` weeks, read from (or written to)
    a JSON cache folder; with ``cache_dir=None`` every ``fit`` fits (nothing is written)."""

    def __init__(self, panel: Panel, settings: ModelSettings, seed: int, *,
                 lift_tests: Sequence[LiftTest] = (), cache_dir: str | Path | None = None):
        self.panel = panel
        self.settings = settings
        self.seed = int(seed)
        self.lift_tests = list(lift_tests)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.data_hash = panel_fingerprint(panel)
        self.loaded: list[int] = []  # train weeks read from the cache
        self.fitted: list[int] = []  # train weeks fitted here
        self._memo: dict[int, MMM] = {}

    @property
    def calibrated(self) -> bool:
        return bool(self.lift_tests)

    def _weeks(self, train_weeks: int | None) -> int:
        n = self.panel.n_weeks if train_weeks is None else int(train_weeks)
        if not 0 < n <= self.panel.n_weeks:
            raise ValueError(f"tenant {self.panel.tenant!r}: cannot fit on the first {n} of "
                             f"{self.panel.n_weeks} weeks")
        return n

    def key(self, train_weeks: int | None = None) -> str:
        """The cache key of the model fitted on the first ``train_weeks`` weeks (None: all)."""
        from mmm_evidence.pipeline.cache import library_versions, package_fingerprint

        libraries = library_versions()
        record = {
            "format": MODEL_CACHE_FORMAT, "model_version": MODEL_VERSION,
            "data": self.data_hash, "train_weeks": self._weeks(train_weeks),
            "settings": self.settings.model_dump(mode="json"), "seed": self.seed,
            "lift_tests": [_lift_test_record(t) for t in self.lift_tests],
            "package": package_fingerprint(),
            "libraries": {k: libraries.get(k) for k in ("python", "machine", "numpy", "scipy",
                                                         "pandas")},
        }
        blob = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def path(self, train_weeks: int | None = None) -> Path | None:
        """Where the model fitted on the first ``train_weeks`` weeks is cached (None: no
        cache folder)."""
        if self.cache_dir is None:
            return None
        n = self._weeks(train_weeks)
        return self.cache_dir / f"mmm-{n}w-{self.key(n)[:24]}.json"

    def fit(self, train_weeks: int | None = None) -> MMM:
        """MMM v2 fitted on the first ``train_weeks`` weeks (None: the whole history), read
        back from its JSON — loaded from the cache, or fitted now and cached."""
        n = self._weeks(train_weeks)
        if n in self._memo:
            return self._memo[n]
        path, key = self.path(n), self.key(n)
        text = None
        if path is not None and path.is_file():
            text = _read_cached_model(path, key)
            if text is not None:
                self.loaded.append(n)
        if text is None:  # not cached, or unreadable, foreign or changed: refit and overwrite
            model = MMM(self.settings, seed=self.seed)
            train = self.panel.weeks(None, n)
            model = (model.fit(train, lift_tests=self.lift_tests) if self.lift_tests
                     else model.fit(train))
            text = model.to_json()
            self.fitted.append(n)
            if path is not None:
                _write_atomically(path, json.dumps(
                    {"format": MODEL_CACHE_FORMAT, "key": key,
                     "sha256": hashlib.sha256(text.encode()).hexdigest(), "model": text}))
        model = MMM.from_json(text)
        self._memo[n] = model
        return model

    def holdout(self, holdout_weeks: int) -> MMM:
        """The model fitted on all but the last ``holdout_weeks`` weeks."""
        return self.fit(self.panel.n_weeks - int(holdout_weeks))

    def full(self) -> MMM:
        """The model fitted on the whole history."""
        return self.fit(None)

    def check_compatible(self, panel: Panel, settings: ModelSettings, seed: int,
                         calibrated: bool) -> None:
        """Raise ValueError unless these fits are of ``panel`` with ``settings``, ``seed`` and
        (no) calibration — what a caller handed them to expects."""
        problems = []
        if panel is not self.panel and panel_fingerprint(panel) != self.data_hash:
            problems.append("another panel")
        if settings != self.settings:
            problems.append("other model settings")
        if int(seed) != self.seed:
            problems.append(f"seed {self.seed}, not {seed}")
        if bool(calibrated) != self.calibrated:
            problems.append("calibrated with lift tests" if self.calibrated
                            else "not calibrated with lift tests")
        if problems:
            raise ValueError(f"tenant {panel.tenant!r}: the fitted models given are of "
                             f"{', '.join(problems)}")


def _read_cached_model(path: Path, key: str) -> str | None:
    """The model JSON a cache file holds when the file is of this format and ``key``, its
    text still has the SHA-256 written with it and it reads as a model; else None."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        text = record["model"]
        if (record.get("format") != MODEL_CACHE_FORMAT or record.get("key") != key
                or hashlib.sha256(text.encode()).hexdigest() != record.get("sha256")):
            return None
        MMM.from_json(text)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return text


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; it is an output like the others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def tenant_models(exp: ExperimentConfig, tenant: str, panel: Panel, output_dir: str | Path,
                  seed: int, *, calibrate: bool | None = None, cache: bool = True
                  ) -> FittedModels:
    """The tenant's MMM fits with the experiment's model settings and ``seed``, cached in
    ``<output_dir>/.cache/models/<tenant>/`` (``cache=False``: always fitted). ``calibrate``
    (default: the tenant's ``calibrate_with_lift_tests``) fits with the tenant's lift tests,
    as the validation notebook does."""
    if calibrate is None:
        calibrate = exp.tenant(tenant).calibrate_with_lift_tests
    tests = list(panel.meta.get("lift_tests", ())) if calibrate else []
    return FittedModels(panel, exp.model, seed, lift_tests=tests,
                        cache_dir=model_cache_dir(output_dir, tenant) if cache else None)
