"""The evidence benchmark's scaling tenants (benchmarks/bench_evidence.py)."""

import yaml

from tests.benchmarks import load_benchmark


def test_every_size_asks_the_same_work_per_tenant(tmp_path):
    bench = load_benchmark("bench_evidence.py")
    names = bench.scaling_tenants(tmp_path, 2 * bench.SHAPES)
    assert len(set(names)) == 2 * bench.SHAPES

    def work(name):  # what a run computes for the tenant: all but its names
        raw = yaml.safe_load((tmp_path / f"{name}.yaml").read_text(encoding="utf-8"))
        return {k: v for k, v in raw.items() if k not in ("name", "display_name")}

    first = [work(n) for n in names[: bench.SHAPES]]
    assert all(a != b for i, a in enumerate(first) for b in first[i + 1:])
    assert [work(n) for n in names[bench.SHAPES:]] == first


def test_work_is_the_executed_tasks_seconds():
    bench = load_benchmark("bench_evidence.py")
    tasks = [{"seconds": 2.5, "cached": False}, {"seconds": 7.0, "cached": True},
             {"seconds": 1.5}]
    assert bench.task_seconds(tasks) == 4.0
