"""Smoke tests of the scripts under benchmarks/ (not a package: loaded by path)."""

import importlib.util
import sys
from types import ModuleType

from tests.paths import ROOT


def load_benchmark(file: str) -> ModuleType:
    """Import ``benchmarks/<file>`` as module ``<stem>_benchmark``; benchmarks/ goes on the
    path first, since the scripts import each other (``from recovery import ...``)."""
    folder = str(ROOT / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = file.removesuffix(".py") + "_benchmark"
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module
