"""A host hears nothing from Vignette unless it asks, and then through standard `logging`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.embedding.support import run_host


def test_a_host_that_configures_no_logging_gets_nothing_on_stderr(tmp_path: Path) -> None:
    result = run_host("quiet.py", tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("failed missing_api_key: ")


def test_the_stdlib_bridge_hands_records_with_story_id_and_step_to_logging(
    tmp_path: Path,
) -> None:
    result = run_host("stdlib_logging.py", tmp_path)

    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    story_id = records[0]["story"]
    failure = [r for r in records if r["story_id"] == story_id]
    assert failure, records
    assert failure[0]["name"].startswith("vignette.")
    assert failure[0]["levelname"] == "ERROR"
    assert failure[0]["step"] == "validate"
    assert any("RECRAFT_API_KEY is not set" in r["message"] for r in records)
    # Every line on stderr is the host's format: loguru printed none of them again.
    lines = result.stderr.splitlines()
    assert lines
    assert all(line.startswith("STD vignette.") for line in lines), lines
