"""The benchmarks still run: each script in its tiny mode (``run_all.py --quick`` sizes).

Only that they run and that what they check holds (no request for an unchanged model, no
row lost or duplicated); their speed figures are printed by `make bench`, never asserted.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
_spec = importlib.util.spec_from_file_location("run_all", BENCHMARKS / "run_all.py")
assert _spec and _spec.loader
run_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_all)

EXPECTED = {
    "bench_ab.py": "requests sent: 0",
    "bench_noop.py": "target 0 requests: met",
    "bench_diff.py": "planned: {'upsert': 20}; requests sent: 0",
    "bench_ladder.py": "the ladder settles on the first rung that fits (50MB): met",
    "bench_join.py": "the baseline fits 50MB: met",
    "bench_throughput.py": "target (a) >= 95% and 0 lost",
    "bench_429_storm.py": "every row delivered once under the storm: met",
}


@pytest.mark.parametrize("script", sorted(run_all.QUICK))
def test_benchmark_runs_in_its_tiny_mode(script: str) -> None:
    options = list(run_all.QUICK[script])
    if script == "bench_throughput.py" and importlib.util.find_spec("dlt") is None:
        options.append("--skip-dlt")  # dlt comes with the `bench` extra only
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *options],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert EXPECTED[script] in result.stdout, result.stdout[-3000:]
