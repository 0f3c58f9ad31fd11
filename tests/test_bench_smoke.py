"""The benchmark's smoke run (``bench/run.py --quick``): it finishes, and every count matches.

Correctness only, no timing: smshook, the no-op ceiling and the floor (``bench/floor.py``), one second
of load per workload. For each smshook run the SQLite file must hold exactly the acknowledged events
minus the duplicates; the forwarding steps (drain, latency, burst, Redis) deliver every event.
Skipped (with the reason) only when wrk is missing and cannot be installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "bench" / "run.py"


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smshook_bench_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_counts_match(tmp_path: Path) -> None:
    bench = bench_module()
    try:
        bench.ensure_wrk()
    except RuntimeError as exc:
        pytest.skip(f"wrk is not installed and could not be installed: {exc}")

    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--duration", "1", "--grace", "1", "--targets", "smshook,noop,floor",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    report = json.loads(next(tmp_path.glob("*-quick.json")).read_text())
    assert (tmp_path / next(tmp_path.glob("*-quick.json")).name.replace(".json", ".md")).exists()
    runs = {(r["workload"], r["target"]): r for r in report["runs"]}
    assert set(runs) == {(w, t) for w in bench.WORKLOADS for t in ("smshook", "noop", "floor")}

    for (workload, target), run in runs.items():
        assert run["ok"] > 0, (workload, target)
        assert run["non_2xx"] == 0 and run["unanswered"] == 0, run
        if target == "floor":  # the stack's floor stores its events too, retries once
            assert run["check"] == "ok", run
        if target == "smshook":
            assert run["check"] == "ok", run
            per = bench.EVENTS_PER_REQUEST[workload]
            duplicates = run["duplicates"] if workload == "mix" else 0
            assert run["stored_events"] == (run["ok"] - duplicates) * per == run["expected_events"]
            assert run["stored_requests"] == run["ok"]
            assert run["peak_rss_mb"] > 0

    mix = runs[("mix", "smshook")]
    # every 10th request of each wrk thread is a retry
    assert mix["sent"] // 10 - report["threads"] <= mix["duplicates"] <= mix["sent"] // 10
    assert mix["stored_duplicates"] == mix["duplicates"]
    assert all(t["measured"] is not None for t in report["targets"] if "typical" not in t["target"])

    # Forwarding beside ingestion (bench/forwarding.py): every step finished and every event arrived.
    fwd = report["forwarding"]
    drain = fwd["drain"]
    assert drain["events"] > 0 and drain["drained"] and drain["delivered"] == drain["events"], drain
    assert drain["ratio"] > 0
    latency = fwd["latency"]
    assert latency["sent"] > 0 and latency["delivered"] == latency["sent"], latency
    assert latency["p50_ms"] is not None and latency["p99_ms"] >= latency["p50_ms"]
    burst = fwd["burst"]
    assert burst["ingested"] > 0 and burst["drained"] and burst["delivered"] == burst["ingested"], burst
    if "skipped" not in fwd["redis"]:
        assert fwd["redis"]["delivered"] == fwd["redis"]["events"] > 0, fwd["redis"]
    assert {t["target"].split(" ")[0] for t in report["forwarding_targets"]} >= {"webhooks/s", "callback"}
    assert "## Forwarding" in (tmp_path / next(tmp_path.glob("*-quick.json")).name.replace(".json", ".md")).read_text()
