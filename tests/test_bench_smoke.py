"""The benchmark harness runs end to end (tiny N, no timing asserted): `bench.run --smoke`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


@pytest.mark.timeout(120)
def test_the_benchmark_prints_its_table_and_writes_json(tmp_path: Path) -> None:
    done = _run("bench.run", "--smoke", "--out-dir", str(tmp_path))

    assert done.returncode == 0, done.stderr[-3000:]
    assert "Makespan for N portraits" in done.stdout
    assert "Targets" in done.stdout
    for scenario in ("C=1 ", "C=4 ", "C=16 ", "C=64 ", "C=256 "):
        assert scenario in done.stdout
    [written] = tmp_path.glob("*.json")
    results = json.loads(written.read_text())
    assert len(results["scenarios"]) == 5
    for row in results["scenarios"]:
        portraits = row["scenario"]["portraits"]
        assert row["system"]["statuses"] == {"stored": portraits}
        assert row["baseline"]["stored_files"] == portraits
    assert results["memory"]["big_image"]["stored"] == 1
    assert results["memory"]["growth"]["stored"] == results["memory"]["growth"]["portraits"]
    assert {target["name"] for target in results["targets"]} >= {
        "story creation vs raw inserts",
        "CPU per portrait (ms)",
    }


@pytest.mark.timeout(60)
def test_the_restart_benchmark_sees_every_crash_recovered(tmp_path: Path) -> None:
    done = _run("bench.restarts", "--smoke", "--out-dir", str(tmp_path))

    assert done.returncode == 0, done.stderr[-3000:]
    assert "restarts/s" in done.stdout
    [written] = tmp_path.glob("*-restarts.json")
    runs = json.loads(written.read_text())["runs"]
    assert [run["concurrency"] for run in runs] == [1, 4]
    assert all(run["all_crashed"] and run["restarts"] == run["stories"] for run in runs)


@pytest.mark.timeout(90)
def test_the_scale_benchmark_loads_stories_and_reads_them_back(tmp_path: Path) -> None:
    done = _run("bench.scale", "--smoke", "--out-dir", str(tmp_path))

    assert done.returncode == 0, done.stderr[-3000:]
    [written] = tmp_path.glob("*-scale.json")
    [result] = json.loads(written.read_text())
    table = result["status"]["table"]
    # The counts `status` shows are those of the stories loaded, stale leases apart.
    assert table["total"] == result["stories"] == 200
    assert table["generating (stale)"] == 10
    assert table["generating"] == 0
    assert table["stored"] + table["failed"] + table["skipped"] == 190
    assert "/" in result["routes"]
    assert "/api/stories" in result["routes"]
