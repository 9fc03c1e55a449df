"""Stories brought to each portrait state through the models' own functions."""

from __future__ import annotations

from peewee import Database

from vignette.models import portraits, stories
from vignette.records import FileInfo, PortraitJob, PortraitStatus, Story, StoryDraft


def draft(n: int = 0, prompt: str | None = None) -> StoryDraft:
    return StoryDraft(
        title=f"Story {n}",
        body=f"The body of story {n}.",
        image_generation_prompt=f"A portrait for story {n}" if prompt is None else prompt,
    )


def insert(db: Database, n: int = 0) -> Story:
    return stories.insert_story(db, draft(n))


def claim(db: Database, story_id: str) -> PortraitJob:
    job = portraits.claim_portrait(db, story_id)
    assert job is not None
    return job


def get(db: Database, story_id: str) -> Story:
    story = stories.get_story(db, story_id)
    assert story is not None
    return story


def pending_ids() -> list[str]:
    """Pending stories, oldest first: the order claims take them in."""
    return [story.id for story in reversed(stories.list_stories(PortraitStatus.PENDING, 1000))]


def status_of(db: Database, story_id: str) -> PortraitStatus:
    return get(db, story_id).portrait_status


def store(db: Database, job: PortraitJob, sha: str = "ab" * 32) -> FileInfo | None:
    return portraits.store_portrait(db, job, sha, 123, "image/png")


def story_in_state(db: Database, status: PortraitStatus, n: int = 0) -> Story:
    """A story brought to `status` through the models' own transitions."""
    story = insert(db, n)
    if status is PortraitStatus.PENDING:
        return story
    job = claim(db, story.id)
    if status is PortraitStatus.STORED:
        assert store(db, job, f"{n:064x}") is not None
    elif status is PortraitStatus.FAILED:
        assert portraits.fail_portrait(db, job, status, "api_error: boom")
    elif status is PortraitStatus.SKIPPED:
        assert portraits.fail_portrait(db, job, status, "empty_prompt: no prompt")
    result = get(db, story.id)
    assert result.portrait_status is status
    return result
