"""StoryActor and StoryStore: P1 (the portrait is scheduled), P6 (portraits never touch
story creation), and a ready story never waits behind one being written."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pykka
import pytest

from tests.fakes.recraft_server import RecraftServer
from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.actors.messages import PortraitRequested
from vignette.actors.story import StoryActor, StoryProxy, StoryStore
from vignette.config import Settings
from vignette.errors import InvalidStory, StoryGenerationError
from vignette.models import open_database
from vignette.records import PortraitStatus, StoryDraft
from vignette.system.facade import StorySystem
from vignette.writers.template import TemplateWriter


@dataclass
class Probe:
    """What the stand-in portrait side was told."""

    requested: list[str] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    actor_ref: pykka.ActorRef[Any] = field(init=False)


class PortraitProbe(pykka.ThreadingActor):
    """Stands in for the portrait side and records what it is told."""

    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self._probe = probe

    def on_receive(self, message: Any) -> None:
        assert isinstance(message, PortraitRequested)
        self._probe.requested.append(message.story_id)
        self._probe.arrived.set()


@pytest.fixture
def document(settings: Settings) -> DocumentProxy:
    ref = DocumentActor.start(open_database(settings.database.url))
    return cast(DocumentProxy, ref.proxy())


@pytest.fixture
def probe() -> Iterator[Probe]:
    probe = Probe()
    probe.actor_ref = PortraitProbe.start(probe)
    yield probe
    probe.actor_ref.stop()


def start_story_actor(document: DocumentProxy, portraits: pykka.ActorRef[Any]) -> StoryProxy:
    ref = StoryActor.start(writer=TemplateWriter(), store=StoryStore(document, portraits, 1000))
    return cast(StoryProxy, ref.proxy())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_p1_an_inserted_story_schedules_its_portrait_with_its_id_and_prompt(
    document: DocumentProxy, probe: Probe, seed: int
) -> None:
    stories = start_story_actor(document, probe.actor_ref)

    story = stories.generate_story(seed=seed).get(timeout=10)

    assert probe.arrived.wait(10)
    assert probe.requested == [story.id]
    # The durable schedule: the row is pending, and claiming it yields this story's prompt.
    stored = document.get_story(story.id).get(timeout=10)
    assert stored is not None
    assert stored.portrait_status is PortraitStatus.PENDING
    job = document.claim_portrait(story.id).get(timeout=10)
    assert job is not None
    assert (job.story_id, job.prompt) == (story.id, story.image_generation_prompt)
    assert job.prompt == TemplateWriter().write(seed=seed).image_generation_prompt


def test_p6_story_creation_never_waits_on_a_portrait_in_flight(
    make_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    with RecraftServer() as recraft:
        recraft.fake.hold = threading.Event()
        system = start_system(
            make_settings(recraft__base_url=recraft.base_url, portraits__allow_insecure_urls=True)
        )
        first = system.generate_story(seed=1)
        assert recraft.fake.wait_for_calls(1)

        # Every worker is held inside a Recraft call; stories are still created and returned.
        more = [system.generate_story(seed=n) for n in range(2, 12)]

        assert first.portrait_status is PortraitStatus.PENDING
        assert len({s.id for s in more}) == 10
        assert all(system.get_story(s.id) is not None for s in more)
        recraft.fake.hold.set()
        assert system.wait_for_portrait(first.id, timeout=30).portrait_status is (
            PortraitStatus.STORED
        )


def test_p6_a_stopped_portrait_side_leaves_new_stories_pending(
    document: DocumentProxy, probe: Probe
) -> None:
    probe.actor_ref.stop()
    store = StoryStore(document, probe.actor_ref, 1000)

    story = store.submit(StoryDraft("Title", "Body", "a prompt"))

    stored = document.get_story(story.id).get(timeout=10)
    assert stored is not None
    assert stored.portrait_status is PortraitStatus.PENDING


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        pytest.param(StoryDraft("", "body", "p"), "title", id="empty-title"),
        pytest.param(StoryDraft("   ", "body", "p"), "title", id="blank-title"),
        pytest.param(StoryDraft("t" * 201, "body", "p"), "title", id="title-over-200"),
        pytest.param(StoryDraft("title", " \n", "p"), "body", id="blank-body"),
        pytest.param(StoryDraft("title", "b" * 20_001, "p"), "body", id="body-over-20000"),
        pytest.param(
            StoryDraft("title", "body", "p" * 1001),
            "image_generation_prompt",
            id="prompt-over-1000",
        ),
        pytest.param(StoryDraft("title", 42, "p"), "body", id="body-not-a-string"),  # type: ignore[arg-type]
    ],
)
def test_a_story_breaking_a_limit_is_refused_naming_the_field_and_nothing_is_stored(
    document: DocumentProxy, probe: Probe, draft: StoryDraft, field: str
) -> None:
    store = StoryStore(document, probe.actor_ref, 1000)
    kept = store.submit(StoryDraft("Kept", "Already stored", "p"))

    with pytest.raises(InvalidStory, match=field) as raised:
        store.submit(draft)

    assert raised.value.field == field
    assert [s.id for s in document.list_stories().get(timeout=10)] == [kept.id]
    assert probe.arrived.wait(10)
    assert probe.requested == [kept.id]


def test_the_template_writer_is_deterministic_for_a_seed_and_varied_across_seeds() -> None:
    writer = TemplateWriter()

    assert writer.write(seed=5) == writer.write(seed=5)
    drafts = [writer.write(seed=n) for n in range(40)]
    assert len({d.title for d in drafts}) >= 35
    assert len({d.image_generation_prompt for d in drafts}) == 40
    for draft in drafts:
        assert draft.title
        assert draft.body
        assert len(draft.image_generation_prompt) <= 1000
        assert "portrait" in draft.image_generation_prompt.lower()


@pytest.mark.parametrize("topic", ["cardiology", "paediatrics"])
def test_the_template_writer_writes_about_a_chosen_topic(topic: str) -> None:
    draft = TemplateWriter().write(seed=3, topic=topic)

    if topic == "paediatrics":
        age = int(draft.title.split(", ")[1].split(":")[0])
        assert age < 16
    assert draft.body


def test_the_template_writer_refuses_an_unknown_topic_naming_the_known_ones() -> None:
    with pytest.raises(InvalidStory, match="cardiology"):
        TemplateWriter().write(topic="astrology")


class ScriptedWriter:
    """A writer that raises, in turn, each exception it is given, then writes stories."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    def write(self, seed: int | None = None, topic: str | None = None) -> StoryDraft:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return StoryDraft(f"Story {self.calls}", f"About {topic}", "a calm portrait")


def test_a_failing_writer_reaches_the_caller_and_the_story_actor_lives_on(
    document: DocumentProxy, probe: Probe
) -> None:
    writer = ScriptedWriter(StoryGenerationError("the model refused"), RuntimeError("a bug"))
    ref = StoryActor.start(writer=writer, store=StoryStore(document, probe.actor_ref, 1000))
    stories = cast(StoryProxy, ref.proxy())

    with pytest.raises(StoryGenerationError, match="the model refused"):
        stories.generate_story().get(timeout=10)
    with pytest.raises(RuntimeError, match="a bug"):
        stories.generate_story().get(timeout=10)
    assert document.list_stories().get(timeout=10) == []
    assert ref.is_alive()

    story = stories.generate_story(topic="cardiology").get(timeout=10)

    assert (story.title, story.body) == ("Story 3", "About cardiology")
    assert [s.id for s in document.list_stories().get(timeout=10)] == [story.id]


def test_a_request_past_its_callers_deadline_is_not_written_nor_stored(
    document: DocumentProxy, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr("vignette.actors.story.monotonic", lambda: clock[0])

    class SlowWriter(ScriptedWriter):
        def write(self, seed: int | None = None, topic: str | None = None) -> StoryDraft:
            clock[0] += 30.0  # the model took 30 s
            return super().write(seed, topic)

    writer = SlowWriter()
    ref = StoryActor.start(writer=writer, store=StoryStore(document, probe.actor_ref, 1000))
    stories = cast(StoryProxy, ref.proxy())

    # Queued until after the caller gave up: the writer is not even called.
    with pytest.raises(StoryGenerationError, match="no story was written"):
        stories.generate_story(deadline=99.0).get(timeout=10)
    assert writer.calls == 0
    # Written, but too late for the caller: not stored.
    with pytest.raises(StoryGenerationError, match="it was not stored"):
        stories.generate_story(deadline=120.0).get(timeout=10)
    assert writer.calls == 1
    assert document.list_stories().get(timeout=10) == []
    # Within the deadline: stored.
    story = stories.generate_story(deadline=clock[0] + 60.0).get(timeout=10)
    assert [s.id for s in document.list_stories().get(timeout=10)] == [story.id]


def test_the_facade_turns_a_writer_failure_into_story_generation_error_and_stores_nothing(
    make_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    writer = ScriptedWriter(StoryGenerationError("the model server answered 500"))
    # No Recraft key: the portrait of the story written afterwards fails without a call.
    system = start_system(make_settings(api_key=None), writer=writer)

    with pytest.raises(StoryGenerationError, match="answered 500"):
        system.generate_story()

    assert system.list_stories() == []
    assert system.generate_story(topic="x").body == "About x"


def test_the_template_writer_gives_each_patient_work_that_suits_their_age() -> None:
    for seed in range(300):
        draft = TemplateWriter().write(seed=seed)
        age = int(draft.title.split(", ")[1].split(":")[0])
        if "student" in draft.body or "apprentice" in draft.body:
            assert age <= 26, draft.body
        if "retired" in draft.body:
            assert age >= 62, draft.body


class BlockedWriter(ScriptedWriter):
    """A writer that blocks until released, like a slow model."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = threading.Event()
        self.release = threading.Event()

    def write(self, seed: int | None = None, topic: str | None = None) -> StoryDraft:
        self.writing.set()
        self.release.wait(30)
        return super().write(seed, topic)


def test_a_submitted_story_is_stored_while_another_is_being_written(
    make_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    writer = BlockedWriter()
    system = start_system(make_settings(api_key=None), writer=writer)
    written: list[str] = []
    generating = threading.Thread(target=lambda: written.append(system.generate_story().id))
    generating.start()
    try:
        assert writer.writing.wait(10)

        submitted = system.submit_story(
            title="Ready", body="Written elsewhere.", image_generation_prompt="a portrait"
        )

        assert [s.id for s in system.list_stories()] == [submitted.id]
    finally:
        writer.release.set()
        generating.join(30)
    assert len(written) == 1
