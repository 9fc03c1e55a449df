"""Several instances (separate processes) on one PostgreSQL database.

Work spreads across them through claims, and no portrait is ever paid for twice, even
when one instance is killed mid-run.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.conftest import process_env, stored_files
from tests.fakes.recraft_server import RecraftServer
from vignette.config import Settings, load_settings
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem

REPO = Path(__file__).resolve().parents[1]
INSTANCES = 3
STORIES_EACH = 100


@pytest.fixture
def instance_env(shared_database: str, recraft: RecraftServer, tmp_path: Path) -> dict[str, str]:
    return process_env(
        shared_database,
        tmp_path / "shared-files",
        recraft,
        VIGNETTE_PORTRAITS__CONCURRENCY="4",
        VIGNETTE_PORTRAITS__RATE_LIMIT_PER_MINUTE="100000",
        VIGNETTE_PORTRAITS__POLL_INTERVAL_S="0.2",
        VIGNETTE_PORTRAITS__LEASE_S="3",
        VIGNETTE_LOGGING__LEVEL="WARNING",
    )


def start_instances(env: dict[str, str], tmp_path: Path) -> list[subprocess.Popen[bytes]]:
    """Each instance writes its own stories (distinct seeds) and waits for their portraits."""
    instances = []
    for index in range(INSTANCES):
        command = [sys.executable, "runner.py", "generate", "-n", str(STORIES_EACH)]
        command += ["--seed", str(index * 10_000), "--timeout", "120"]
        with (tmp_path / f"instance-{index}.out").open("wb") as output:
            instances.append(
                subprocess.Popen(
                    command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT
                )
            )
    return instances


def rows(database_url: str) -> list[tuple[str, str, str, str | None]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT id, image_generation_prompt, portrait_status, portrait_owner FROM stories"
        ).fetchall()


def settle_with_one_more_instance(
    env: dict[str, str], start_system: Callable[..., StorySystem], ids: list[str]
) -> list[PortraitStatus]:
    settings: Settings = load_settings(env=env)
    system = start_system(settings)
    return [system.wait_for_portrait(story_id, timeout=60).portrait_status for story_id in ids]


def test_three_instances_share_the_work_and_call_recraft_once_per_story(
    instance_env: dict[str, str], recraft: RecraftServer, shared_database: str, tmp_path: Path
) -> None:
    recraft.fake.latency_s = 0.05
    instances = start_instances(instance_env, tmp_path)
    try:
        for index, process in enumerate(instances):
            output = tmp_path / f"instance-{index}.out"
            assert process.wait(timeout=180) == 0, output.read_text()
    finally:
        for process in instances:
            process.kill()
            process.wait(timeout=30)

    stories = rows(shared_database)
    owners = {owner for *_, owner in stories}
    prompts = [prompt for _, prompt, _, _ in stories]
    print(
        f"\n{len(stories)} stories, {recraft.fake.call_count} calls, owners: "
        + ", ".join(f"{sum(1 for s in stories if s[3] == o)}" for o in sorted(owners, key=str))
    )
    assert len(stories) == INSTANCES * STORIES_EACH
    assert len(set(prompts)) == len(prompts)
    assert {status for _, _, status, _ in stories} == {"stored"}
    assert recraft.fake.call_count == INSTANCES * STORIES_EACH
    assert max(recraft.fake.calls_by_prompt.values()) == 1
    assert len(owners) == INSTANCES, "every instance should have made portraits"


def test_killing_one_instance_interrupts_only_its_claims_and_the_others_carry_on(
    instance_env: dict[str, str],
    recraft: RecraftServer,
    shared_database: str,
    start_system: Callable[..., StorySystem],
    tmp_path: Path,
) -> None:
    recraft.fake.latency_s = 0.2
    instances = start_instances(instance_env, tmp_path)
    victim, survivors = instances[0], instances[1:]
    try:
        assert recraft.fake.wait_for_calls(40, timeout=120)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        for process in survivors:
            process.wait(timeout=180)
    finally:
        for process in instances:
            process.kill()
            process.wait(timeout=30)
    victim_pid = str(victim.pid)

    # Whatever the survivors left (the victim's unstarted stories), one more instance
    # finishes; the victim's claims are failed as interrupted, never called again.
    ids = [story_id for story_id, *_ in rows(shared_database)]
    statuses = settle_with_one_more_instance(instance_env, start_system, ids)
    stories = rows(shared_database)

    interrupted = [s for s in stories if s[2] == "failed"]
    print(
        f"\nkill -9 of one of {INSTANCES}: {len(stories)} stories, {len(interrupted)} "
        f"interrupted, {recraft.fake.call_count} calls"
    )
    assert set(statuses) <= {PortraitStatus.STORED, PortraitStatus.FAILED}
    assert interrupted, "the victim held claims when it was killed"
    assert all(f":{victim_pid}:" in (owner or "") for *_, owner in interrupted)
    assert max(recraft.fake.calls_by_prompt.values()) == 1
    stored = [s for s in stories if s[2] == "stored"]
    assert len(stored) + len(interrupted) == len(stories)
    # Each stored story had its one call; an interrupted one had at most one.
    assert len(stored) <= recraft.fake.call_count <= len(stories)
    root = tmp_path / "shared-files"
    assert not [p for p in stored_files(root) if p.relative_to(root).parts[0] == "tmp"]
