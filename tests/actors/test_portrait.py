"""The portrait pipeline (seed P2-P6, E1-E5), driven through a real StorySystem.

Each test runs the real actors on a SQLite file and a storage folder under tmp_path;
pytest-httpx stands in for Recraft and for the image host, and nothing else is mocked.
Tests wait with `wait_for_portrait` and with events set from inside the mocked answers,
never with sleeps.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from PIL import Image
from pytest_httpx import HTTPXMock, IteratorStream

from tests.actors.waits import no_job_in_flight
from tests.conftest import API_KEY, stored_files
from tests.fakes.images import png_bytes, truncated_jpeg_bytes, webp_bytes
from vignette.config import Settings
from vignette.errors import StoryNotFound
from vignette.models import StoredFile
from vignette.records import PortraitErrorCode, PortraitStatus, Step, Story
from vignette.system.facade import StorySystem

if TYPE_CHECKING:
    from loguru import Record

GENERATIONS_URL = "https://external.api.recraft.ai/v1/images/generations"
IMAGE_URL = "https://img.recraft.ai/abc"
PROMPT = "A weathered fisherman in his seventies, soft window light, realistic portrait"
FAILING_TITLE = "The story whose portrait goes wrong"
WAIT_S = 20.0
WARNING = 30  # loguru's WARNING severity

PNG = png_bytes()

# Helpers -------------------------------------------------------------------------------------

# How a mocked host answers one request; it may use the system (to delete a story, say).
Reply = Callable[[httpx.Request, StorySystem], httpx.Response]


def respond(
    status: int = 200,
    *,
    json_body: Any = None,
    text: str | None = None,
    content: bytes | None = None,
    chunks: list[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An answer; `chunks` streams the body without a Content-Length header."""

    def reply(request: httpx.Request, system: StorySystem) -> httpx.Response:
        return httpx.Response(
            status,
            headers=headers,
            json=json_body,
            text=text,
            content=content,
            stream=None if chunks is None else IteratorStream(chunks),
        )

    return reply


def raising(make_error: Callable[[httpx.Request], Exception]) -> Reply:
    """An answer that never comes: the transport raises (a fresh exception each time)."""

    def reply(request: httpx.Request, system: StorySystem) -> httpx.Response:
        raise make_error(request)

    return reply


def generation_answer(url: str = IMAGE_URL) -> dict[str, Any]:
    """Recraft's answer to a generation: `{created, credits, data: [{image_id, url}]}`."""
    return {"created": 1_700_000_000, "credits": 40, "data": [{"image_id": "abc", "url": url}]}


def generated(url: str = IMAGE_URL) -> Reply:
    return respond(json_body=generation_answer(url))


def image(data: bytes = PNG, content_type: str | None = "image/png") -> Reply:
    return respond(content=data, headers={"content-type": content_type} if content_type else {})


def deleting_the_story(then: Reply) -> Reply:
    """Delete the failing story through the system while its request is in flight.

    This runs in the worker's thread; delete_story asks the document and storage actors,
    and neither of them ever waits on a worker, so nothing deadlocks.
    """

    def reply(request: httpx.Request, system: StorySystem) -> httpx.Response:
        (story,) = [s for s in system.list_stories() if s.title == FAILING_TITLE]
        system.delete_story(story.id)
        return then(request, system)

    return reply


def request_body(settings: Settings, prompt: str) -> dict[str, str]:
    """The seed's request body, from the settings."""
    return {
        "prompt": prompt,
        "style": settings.recraft.style,
        "model": settings.recraft.model,
        "size": settings.recraft.size,
    }


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 160, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


def noise_png(side: int, seed: int = 7) -> bytes:
    """A PNG of random pixels: it barely compresses, so its size is about 3 x side**2."""
    pixels = random.Random(seed).randbytes(side * side * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@cache
def multi_megabyte_png() -> bytes:
    data = noise_png(1100)
    assert len(data) > 3_000_000
    return data


@cache
def medium_png() -> bytes:
    return noise_png(120)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def submit(
    system: StorySystem, prompt: str = PROMPT, title: str = "Harold at the harbour"
) -> Story:
    return system.submit_story(
        title=title, body="Harold mended nets every morning.", image_generation_prompt=prompt
    )


def submit_unportrayed(system: StorySystem, title: str) -> Story:
    """A story whose blank prompt is skipped without any request to Recraft."""
    return system.submit_story(title=title, body="A quiet afternoon.", image_generation_prompt="")


def warnings_for(logs: list[Record], story_id: str) -> list[Record]:
    """Log records at WARNING or above about one story."""
    return [r for r in logs if r["level"].no >= WARNING and r["extra"].get("story_id") == story_id]


def record_text(record: Record) -> str:
    """Everything a sink could write for a record: message, extra fields, exception."""
    parts = [record["message"], repr(record["extra"])]
    if record["exception"] is not None:
        kind, value, tb = record["exception"]
        parts.append("".join(traceback.format_exception(kind, value, tb)))
        parts.append(repr(value))
    return "\n".join(parts)


def assert_key_never_leaked(logs: list[Record], *stories: Story | None) -> None:
    assert logs, "nothing was logged: the check below would prove nothing"
    for record in logs:
        assert API_KEY not in record_text(record)
    for story in stories:
        if story is not None:
            assert API_KEY not in repr(story)


def read_stored(system: StorySystem, storage_id: str | None) -> tuple[bytes, str]:
    assert storage_id is not None
    file, content_type = system.open_file(storage_id)
    with file:
        return file.read(), content_type


# Fixtures ------------------------------------------------------------------------------------

Launch = Callable[..., StorySystem]


@pytest.fixture
def launch(
    httpx_mock: HTTPXMock,
    make_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
) -> Launch:
    """Start a system on settings overrides (`section__key=value`, `api_key=None`).

    `httpx_mock` is set up before `start_system`, so it is torn down after it: every actor
    has stopped before pytest-httpx checks its responses and removes its patch.
    """

    def launch(**overrides: Any) -> StorySystem:
        return start_system(make_settings(**overrides))

    return launch


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """The storage root `make_settings` configures."""
    return tmp_path / "files"


# P2: missing API key -------------------------------------------------------------------------


def test_p2_without_an_api_key_the_portrait_fails_with_missing_api_key_and_nothing_is_sent(
    launch: Launch, httpx_mock: HTTPXMock, logs: list[Record], files: Path
) -> None:
    system = launch(api_key=None)

    story = submit(system)  # no exception reaches the caller
    done = system.wait_for_portrait(story.id, timeout=WAIT_S)

    assert done.portrait_status is PortraitStatus.FAILED
    assert done.portrait_error is not None
    assert done.portrait_error.startswith("missing_api_key: ")
    assert "RECRAFT_API_KEY" in done.portrait_error
    assert done.storage_id is None
    assert httpx_mock.get_requests() == []
    (line,) = warnings_for(logs, story.id)
    assert line["extra"]["step"] == Step.VALIDATE
    assert stored_files(files) == []


# P3: request formation -----------------------------------------------------------------------

PROMPTS = [
    pytest.param(PROMPT, id="plain"),
    pytest.param("Zoë, 82, in Kraków — 祖母の肖像 👵🏼, ½ smile", id="unicode"),
    pytest.param('He said "don\'t" and \\ back\\slash, {curly} <tag>', id="quotes"),
    pytest.param("first line\nsecond line\r\n\tindented third", id="newlines"),
    pytest.param(("portrait of an old sailor, " * 40)[:1000], id="1000-characters"),
]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_p3_the_request_is_exactly_the_seeds_body_from_settings_with_the_bearer_key(
    prompt: str, launch: Launch, httpx_mock: HTTPXMock
) -> None:
    # Values other than the defaults show they come from the settings, not from constants.
    system = launch(
        recraft__model="recraftv2", recraft__style="digital_illustration", recraft__size="1365x1024"
    )
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=generation_answer())
    httpx_mock.add_response(method="GET", url=IMAGE_URL, content=PNG)

    story = submit(system, prompt=prompt)
    assert system.wait_for_portrait(story.id, timeout=WAIT_S).portrait_status is (
        PortraitStatus.STORED
    )

    (sent,) = httpx_mock.get_requests(method="POST")
    assert sent.url == GENERATIONS_URL
    assert json.loads(sent.content) == {
        "prompt": prompt,
        "style": "digital_illustration",
        "model": "recraftv2",
        "size": "1365x1024",
    }
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["content-type"] == "application/json"
    (download,) = httpx_mock.get_requests(method="GET")
    assert "authorization" not in download.headers  # the key goes to Recraft only


# P4: image storage round trip ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "served_as", "stored_as"),
    [
        pytest.param(PNG, "image/png", "image/png", id="png"),
        pytest.param(webp_bytes(), "application/octet-stream", "image/webp", id="webp-mislabelled"),
        pytest.param(jpeg_bytes(), None, "image/jpeg", id="jpeg-without-content-type"),
    ],
)
def test_p4_the_downloaded_image_is_stored_by_content_and_can_be_read_back(
    data: bytes,
    served_as: str | None,
    stored_as: str,
    launch: Launch,
    httpx_mock: HTTPXMock,
    logs: list[Record],
    files: Path,
) -> None:
    system = launch()
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=generation_answer())
    httpx_mock.add_callback(
        lambda request: image(data, served_as)(request, system), method="GET", url=IMAGE_URL
    )

    story = submit(system)
    done = system.wait_for_portrait(story.id, timeout=WAIT_S)

    assert done.portrait_status is PortraitStatus.STORED
    assert done.portrait_error is None
    assert read_stored(system, done.storage_id) == (data, stored_as)
    digest = sha256(data)
    assert stored_files(files) == [files / digest[:2] / digest]  # no temporary file left
    assert warnings_for(logs, story.id) == []
    no_job_in_flight(system)  # the worker logs its line before it reports the job finished
    (stored_line,) = [
        r for r in logs if r["extra"].get("story_id") == story.id and r["extra"].get("storage_id")
    ]
    assert stored_line["extra"]["step"] == Step.UPDATE
    assert stored_line["extra"]["storage_id"] == done.storage_id


# P5: document update integrity ---------------------------------------------------------------


def test_p5_each_story_gets_the_storage_id_of_its_own_image_and_nothing_else_changes(
    launch: Launch, httpx_mock: HTTPXMock
) -> None:
    system = launch()
    images = {
        "Portrait of Ada, a retired midwife": png_bytes(colour=(10, 20, 30)),
        "Portrait of Ben, a former coal miner": png_bytes(colour=(200, 10, 10)),
        "Portrait of Cleo, a violinist": webp_bytes(32, 48),
    }
    for number, (prompt, data) in enumerate(images.items()):
        url = f"https://img.recraft.ai/portrait-{number}"
        httpx_mock.add_response(
            method="POST",
            url=GENERATIONS_URL,
            match_json=request_body(system.settings, prompt),
            json=generation_answer(url),
        )
        httpx_mock.add_response(method="GET", url=url, content=data)

    submitted = {prompt: submit(system, prompt=prompt, title=prompt[12:]) for prompt in images}
    bystander = submit_unportrayed(system, "A story without a portrait")

    storage_ids = set()
    for prompt, story in submitted.items():
        done = system.wait_for_portrait(story.id, timeout=WAIT_S)
        assert done.portrait_status is PortraitStatus.STORED
        assert read_stored(system, done.storage_id)[0] == images[prompt]
        assert (done.id, done.title, done.body, done.image_generation_prompt) == (
            story.id,
            story.title,
            story.body,
            story.image_generation_prompt,
        )
        assert done.created_at == story.created_at
        storage_ids.add(done.storage_id)
    assert len(storage_ids) == len(images)
    skipped = system.wait_for_portrait(bystander.id, timeout=WAIT_S)
    assert skipped.storage_id is None


# P6: failure isolation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        pytest.param(respond(500, text="internal error"), "api_error", id="api-500"),
        pytest.param(
            raising(lambda request: RuntimeError("unexpected bug in the worker")),
            "crashed",
            id="worker-crash",
        ),
    ],
)
def test_p6_a_failing_portrait_neither_blocks_nor_fails_story_creation(
    fault: Reply, code: str, launch: Launch, httpx_mock: HTTPXMock
) -> None:
    system = launch(portraits__concurrency=1)
    in_flight, release = threading.Event(), threading.Event()

    def held_then_fail(request: httpx.Request) -> httpx.Response:
        in_flight.set()
        assert release.wait(WAIT_S)
        return fault(request, system)

    httpx_mock.add_callback(held_then_fail, method="POST", url=GENERATIONS_URL)
    # The stories created meanwhile get their portraits once the failure is over.
    httpx_mock.add_response(
        method="POST", url=GENERATIONS_URL, json=generation_answer(), is_reusable=True
    )
    httpx_mock.add_response(method="GET", url=IMAGE_URL, content=PNG, is_reusable=True)

    failing = submit(system, title=FAILING_TITLE)
    try:
        assert in_flight.wait(WAIT_S)
        # The only worker is stuck in the failing call: story creation must not wait for it.
        generated_story = system.generate_story(seed=3)
        submitted = submit(system, title="Written while a portrait hangs")
        assert {s.id for s in system.list_stories()} == {
            failing.id,
            generated_story.id,
            submitted.id,
        }
        current = system.get_story(failing.id)
        assert current is not None
        assert current.portrait_status is PortraitStatus.GENERATING
    finally:
        release.set()

    failed = system.wait_for_portrait(failing.id, timeout=WAIT_S)
    assert failed.portrait_status is PortraitStatus.FAILED
    assert failed.portrait_error is not None
    assert failed.portrait_error.startswith(f"{code}: ")
    assert (failed.title, failed.body) == (failing.title, failing.body)
    for story in (generated_story, submitted):
        done = system.wait_for_portrait(story.id, timeout=WAIT_S)
        assert done.portrait_status is PortraitStatus.STORED
        assert (done.title, done.body) == (story.title, story.body)
    assert len(httpx_mock.get_requests(method="POST")) == 3  # nothing was called twice


# E1: empty prompt ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        pytest.param("", id="empty"),
        pytest.param("    ", id="spaces"),
        pytest.param("\n\t \r\n", id="whitespace"),
    ],
)
def test_e1_a_blank_prompt_is_skipped_with_a_warning_and_no_request(
    prompt: str, launch: Launch, httpx_mock: HTTPXMock, logs: list[Record], files: Path
) -> None:
    system = launch()

    story = submit(system, prompt=prompt)
    done = system.wait_for_portrait(story.id, timeout=WAIT_S)

    assert done.portrait_status is PortraitStatus.SKIPPED
    assert done.portrait_error is not None
    assert done.portrait_error.startswith("empty_prompt: ")
    assert httpx_mock.get_requests() == []
    (line,) = warnings_for(logs, story.id)
    assert line["level"].name == "WARNING"
    assert line["extra"]["step"] == Step.VALIDATE
    assert stored_files(files) == []


# E2: rate limiting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "details"),
    [
        pytest.param(
            {"retry-after": "30"},
            {"code": "rate_limit_exceeded", "message": "Too many requests, slow down"},
            ["Retry-After: 30 s", "rate_limit_exceeded: Too many requests, slow down"],
            id="with-retry-after",
        ),
        pytest.param(
            {},
            {"code": "rate_limit_exceeded", "message": "Too many requests"},
            ["429 Too Many Requests", "rate_limit_exceeded: Too many requests"],
            id="without-retry-after",
        ),
    ],
)
def test_e2_a_429_fails_with_rate_limited_and_its_details_and_is_not_retried(
    headers: dict[str, str],
    body: dict[str, str],
    details: list[str],
    launch: Launch,
    httpx_mock: HTTPXMock,
    logs: list[Record],
) -> None:
    system = launch()
    httpx_mock.add_response(
        method="POST", url=GENERATIONS_URL, status_code=429, headers=headers, json=body
    )

    story = submit(system)
    done = system.wait_for_portrait(story.id, timeout=WAIT_S)

    assert done.portrait_status is PortraitStatus.FAILED
    assert done.portrait_error is not None
    assert done.portrait_error.startswith("rate_limited: ")
    (line,) = warnings_for(logs, story.id)
    assert line["extra"]["step"] == Step.REQUEST
    for detail in details:
        assert detail in done.portrait_error
        assert detail in line["message"]
    if not headers:
        assert "Retry-After" not in done.portrait_error
    assert len(httpx_mock.get_requests()) == 1  # not retried


def test_e2_a_retry_after_holds_back_the_next_call(launch: Launch, httpx_mock: HTTPXMock) -> None:
    system = launch()
    httpx_mock.add_response(
        method="POST",
        url=GENERATIONS_URL,
        status_code=429,
        headers={"retry-after": "60"},
        text="slow down",
    )
    # Only requested if the next call is not held back.
    httpx_mock.add_response(
        method="POST", url=GENERATIONS_URL, json=generation_answer(), is_optional=True
    )
    httpx_mock.add_response(method="GET", url=IMAGE_URL, content=PNG, is_optional=True)
    first = submit(system)
    assert system.wait_for_portrait(first.id, timeout=WAIT_S).portrait_status is (
        PortraitStatus.FAILED
    )
    no_job_in_flight(system)  # the worker's report, with the hold, has arrived

    second = submit(system, prompt="Another portrait")

    # The supervisor has handled the request once it answers: queued, not started.
    side = system.portrait_side()
    assert (side.queued, side.busy) == (1, 0)
    story = system.get_story(second.id)
    assert story is not None
    assert story.portrait_status is PortraitStatus.PENDING
    assert len(httpx_mock.get_requests(method="POST")) == 1


# E3: large images ----------------------------------------------------------------------------


def test_e3_a_multi_megabyte_image_under_the_cap_is_stored_whole(
    launch: Launch, httpx_mock: HTTPXMock, files: Path
) -> None:
    data = multi_megabyte_png()
    system = launch()
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=generation_answer())
    httpx_mock.add_response(
        method="GET", url=IMAGE_URL, content=data, headers={"content-type": "image/png"}
    )

    story = submit(system)
    done = system.wait_for_portrait(story.id, timeout=WAIT_S)

    assert done.portrait_status is PortraitStatus.STORED
    assert read_stored(system, done.storage_id) == (data, "image/png")
    digest = sha256(data)
    assert stored_files(files) == [files / digest[:2] / digest]


@dataclass(frozen=True)
class SizeCase:
    slack: int  # storage.max_file_bytes minus the image's size
    streamed: bool  # without a Content-Length header
    refused_as: str | None  # the too_large message, or None when the image is stored


SIZE_CASES = [
    pytest.param(SizeCase(0, streamed=False, refused_as=None), id="exactly-the-cap-stored"),
    pytest.param(SizeCase(0, streamed=True, refused_as=None), id="exactly-the-cap-streamed"),
    pytest.param(
        SizeCase(-1, streamed=False, refused_as="image is {size:,} bytes"),
        id="over-the-cap-content-length",
    ),
    pytest.param(
        SizeCase(-1, streamed=True, refused_as="image is more"), id="over-the-cap-streamed"
    ),
]


@pytest.mark.parametrize("case", SIZE_CASES)
def test_e3_an_image_over_storage_max_file_bytes_is_refused_as_too_large(
    case: SizeCase, launch: Launch, httpx_mock: HTTPXMock, logs: list[Record], files: Path
) -> None:
    data = medium_png()
    cap = len(data) + case.slack
    system = launch(storage__max_file_bytes=cap)
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=generation_answer())
    if case.streamed:
        chunks = [data[i : i + 10_000] for i in range(0, len(data), 10_000)]
        httpx_mock.add_response(method="GET", url=IMAGE_URL, stream=IteratorStream(chunks))
    else:
        httpx_mock.add_response(method="GET", url=IMAGE_URL, content=data)

    story = submit(system)
    done = system.wait_for_portrait(story.id, timeout=WAIT_S)

    if case.refused_as is None:
        assert done.portrait_status is PortraitStatus.STORED
        assert read_stored(system, done.storage_id)[0] == data
        return
    assert done.portrait_status is PortraitStatus.FAILED
    assert done.portrait_error is not None
    assert done.portrait_error.startswith("too_large: ")
    assert case.refused_as.format(size=len(data)) in done.portrait_error
    assert f"storage.max_file_bytes = {cap:,}" in done.portrait_error
    (line,) = warnings_for(logs, story.id)
    assert line["extra"]["step"] == Step.DOWNLOAD
    assert stored_files(files) == []


# E4: invalid or inaccessible image URLs ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "download", "code"),
    [
        pytest.param("not a url", None, "download_error", id="not-a-url"),
        pytest.param("ftp://x", None, "download_error", id="ftp"),
        pytest.param(IMAGE_URL, respond(404, text="gone"), "download_error", id="404"),
        pytest.param(IMAGE_URL, respond(403, text="expired"), "download_error", id="403-expired"),
        pytest.param(
            IMAGE_URL,
            respond(302, headers={"location": "http://169.254.169.254/"}),
            "insecure_url",
            id="redirect-to-metadata-refused",
        ),
        pytest.param(
            IMAGE_URL,
            raising(lambda request: httpx.ConnectError("name resolution failed", request=request)),
            "download_error",
            id="unreachable-host",
        ),
        pytest.param("http://img.recraft.ai/abc", None, "insecure_url", id="http"),
        pytest.param("https://127.0.0.1/abc", None, "insecure_url", id="loopback"),
        pytest.param("https://[::1]/abc", None, "insecure_url", id="loopback-ipv6"),
        pytest.param("https://localhost/abc", None, "insecure_url", id="localhost"),
        pytest.param("https://10.1.2.3/abc", None, "insecure_url", id="private"),
        pytest.param("https://169.254.169.254/latest/", None, "insecure_url", id="link-local"),
        pytest.param("https://2130706433/abc", None, "insecure_url", id="numeric-loopback"),
    ],
)
def test_e4_an_invalid_or_inaccessible_image_url_fails_the_download_naming_the_url(
    url: str,
    download: Reply | None,
    code: str,
    launch: Launch,
    httpx_mock: HTTPXMock,
    logs: list[Record],
    files: Path,
) -> None:
    system = launch()
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=generation_answer(url))
    if download is not None:
        httpx_mock.add_callback(lambda request: download(request, system), method="GET", url=url)

    story = submit(system)
    done = system.wait_for_portrait(story.id, timeout=WAIT_S)

    assert done.portrait_status is PortraitStatus.FAILED
    assert done.portrait_error is not None
    assert done.portrait_error.startswith(f"{code}: ")
    assert f"(url: {url})" in done.portrait_error
    (line,) = warnings_for(logs, story.id)
    assert line["extra"]["step"] == Step.DOWNLOAD
    assert url in line["message"]
    # Only a URL that passed the checks was fetched at all.
    assert len(httpx_mock.get_requests(method="GET")) == (download is not None)
    assert stored_files(files) == []


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://img.recraft.ai/abc", id="http"),
        pytest.param("https://127.0.0.1:8443/abc", id="loopback"),
    ],
)
def test_allow_insecure_urls_lets_http_and_local_image_urls_through(
    url: str, launch: Launch, httpx_mock: HTTPXMock
) -> None:
    system = launch(portraits__allow_insecure_urls=True)
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=generation_answer(url))
    httpx_mock.add_response(method="GET", url=url, content=PNG)

    story = submit(system)

    assert system.wait_for_portrait(story.id, timeout=WAIT_S).portrait_status is (
        PortraitStatus.STORED
    )


# E5: story deleted before its image is stored ------------------------------------------------


def test_e5_a_story_deleted_while_its_image_downloads_is_logged_and_leaves_no_file(
    launch: Launch, httpx_mock: HTTPXMock, logs: list[Record], files: Path
) -> None:
    system = launch(portraits__concurrency=1)
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=generation_answer())
    httpx_mock.add_callback(
        lambda request: deleting_the_story(image())(request, system), method="GET", url=IMAGE_URL
    )

    story = submit(system, title=FAILING_TITLE)
    with pytest.raises(StoryNotFound):
        system.wait_for_portrait(story.id, timeout=WAIT_S)
    # With one worker, the next story's portrait starts only once the deleted one has ended.
    after = submit_unportrayed(system, "Written after the deletion")
    assert system.wait_for_portrait(after.id, timeout=WAIT_S).portrait_status is (
        PortraitStatus.SKIPPED
    )

    assert system.get_story(story.id) is None
    (line,) = warnings_for(logs, story.id)
    assert line["extra"]["step"] == Step.UPDATE
    assert "story_deleted" in line["message"]
    assert StoredFile.select().count() == 0
    assert stored_files(files) == []


def test_deleting_a_story_mid_download_keeps_the_file_another_story_shares(
    launch: Launch, httpx_mock: HTTPXMock, logs: list[Record], files: Path
) -> None:
    system = launch(portraits__concurrency=1)
    httpx_mock.add_response(
        method="POST", url=GENERATIONS_URL, json=generation_answer(), is_reusable=True
    )
    httpx_mock.add_response(method="GET", url=IMAGE_URL, content=PNG)
    keeper = system.wait_for_portrait(submit(system, title="Keeper").id, timeout=WAIT_S)
    assert keeper.portrait_status is PortraitStatus.STORED
    httpx_mock.add_callback(
        lambda request: deleting_the_story(image())(request, system), method="GET", url=IMAGE_URL
    )

    story = submit(system, title=FAILING_TITLE)
    with pytest.raises(StoryNotFound):
        system.wait_for_portrait(story.id, timeout=WAIT_S)
    after = submit_unportrayed(system, "Written after the deletion")
    system.wait_for_portrait(after.id, timeout=WAIT_S)

    (line,) = warnings_for(logs, story.id)
    assert "story_deleted" in line["message"]
    assert read_stored(system, keeper.storage_id) == (PNG, "image/png")
    digest = sha256(PNG)
    assert stored_files(files) == [files / digest[:2] / digest]


# A failure at each step ----------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """How the hosts misbehave, and what the story and the log must then say."""

    recraft: Reply  # the answer to the generation request
    code: PortraitErrorCode | None  # None: the story is gone, logged as story_deleted
    step: Step
    detail: str  # found in portrait_error (or in the log line when the story is gone)
    download: Reply | None = None  # the answer to GET IMAGE_URL, when it is requested
    settings: dict[str, Any] = field(default_factory=dict)
    blocks_storage_of: bytes | None = None  # make storing these bytes impossible


def downloaded(reply: Reply, code: PortraitErrorCode | None, detail: str, **more: Any) -> Fault:
    step = Step.DOWNLOAD if code is not None else Step.UPDATE
    return Fault(generated(), code, step, detail, download=reply, **more)


def parsed(reply: Reply, detail: str) -> Fault:
    return Fault(reply, PortraitErrorCode.BAD_RESPONSE, Step.PARSE, detail)


def requested(reply: Reply, code: PortraitErrorCode, detail: str) -> Fault:
    return Fault(reply, code, Step.REQUEST, detail)


E = PortraitErrorCode
FAULTS = [
    pytest.param(
        requested(
            respond(401, text="request unauthorized", headers={"content-type": "text/plain"}),
            E.API_ERROR,
            "answered 401: request unauthorized",
        ),
        id="api-401-unauthorized",
    ),
    pytest.param(
        requested(
            respond(
                402,
                json_body={"code": "not_enough_credits", "message": "Top up your account"},
            ),
            E.API_ERROR,
            "answered 402: not_enough_credits: Top up your account",
        ),
        id="api-402-no-credits",
    ),
    pytest.param(
        requested(
            respond(429, headers={"retry-after": "1"}, json_body={"message": "Slow down"}),
            E.RATE_LIMITED,
            "(Retry-After: 1 s): Slow down",
        ),
        id="api-429-retry-after",
    ),
    pytest.param(
        requested(respond(429, text="Too many"), E.RATE_LIMITED, "429 Too Many Requests: Too many"),
        id="api-429-no-retry-after",
    ),
    pytest.param(
        requested(respond(500, text="upstream exploded"), E.API_ERROR, "500: upstream exploded"),
        id="api-500",
    ),
    pytest.param(
        requested(
            respond(400, text=f"bad header: Authorization: Bearer {API_KEY}"),
            E.API_ERROR,
            "Bearer [redacted]",
        ),
        id="api-400-echoing-the-key",
    ),
    pytest.param(
        requested(
            raising(lambda request: httpx.ReadTimeout("timed out", request=request)),
            E.API_ERROR,
            "did not answer within 120 s",
        ),
        id="api-timeout",
    ),
    pytest.param(
        requested(
            raising(lambda request: httpx.ConnectError("connection refused", request=request)),
            E.API_ERROR,
            "could not reach Recraft",
        ),
        id="api-connect-error",
    ),
    pytest.param(
        parsed(
            respond(text="<html>maintenance</html>", headers={"content-type": "text/html"}),
            "text/html, not JSON",
        ),
        id="parse-not-json",
    ),
    pytest.param(
        parsed(
            respond(content=b'{"data": [{"url": ', headers={"content-type": "application/json"}),
            "not valid JSON",
        ),
        id="parse-malformed-json",
    ),
    pytest.param(parsed(respond(json_body={"created": 1}), "no data list"), id="parse-no-data"),
    pytest.param(parsed(respond(json_body={"data": []}), "no data list"), id="parse-empty-data"),
    pytest.param(parsed(respond(json_body=[IMAGE_URL]), "no data list"), id="parse-json-array"),
    pytest.param(
        parsed(respond(json_body={"data": [{"image_id": "abc"}]}), "no data[0].url"),
        id="parse-no-url",
    ),
    pytest.param(
        parsed(respond(json_body={"data": [{"url": 42}]}), "no data[0].url"),
        id="parse-url-not-a-string",
    ),
    pytest.param(
        Fault(generated("not a url"), E.DOWNLOAD_ERROR, Step.DOWNLOAD, "invalid image URL"),
        id="download-invalid-url",
    ),
    pytest.param(
        Fault(generated("ftp://x"), E.DOWNLOAD_ERROR, Step.DOWNLOAD, "(url: ftp://x)"),
        id="download-ftp-url",
    ),
    pytest.param(
        Fault(generated("http://img.recraft.ai/abc"), E.INSECURE_URL, Step.DOWNLOAD, "not https"),
        id="download-insecure-url",
    ),
    pytest.param(
        downloaded(respond(404, text="not found"), E.DOWNLOAD_ERROR, "answered 404"),
        id="download-404",
    ),
    pytest.param(
        downloaded(
            raising(lambda request: httpx.ReadTimeout("timed out", request=request)),
            E.DOWNLOAD_ERROR,
            "did not answer within",
        ),
        id="download-timeout",
    ),
    pytest.param(
        downloaded(
            image(b"<html><body>Access denied</body></html>"),
            E.INVALID_IMAGE,
            "not a readable PNG, WEBP or JPEG",
        ),
        id="download-not-an-image",
    ),
    pytest.param(
        downloaded(image(b""), E.INVALID_IMAGE, "not a readable"), id="download-empty-body"
    ),
    pytest.param(
        downloaded(image(truncated_jpeg_bytes(), "image/jpeg"), E.INVALID_IMAGE, "truncated"),
        id="download-truncated-jpeg",
    ),
    pytest.param(
        downloaded(
            image(PNG),
            E.TOO_LARGE,
            f"image is {len(PNG):,} bytes",
            settings={"storage__max_file_bytes": len(PNG) - 1},
        ),
        id="download-over-the-cap",
    ),
    pytest.param(
        downloaded(
            respond(chunks=[PNG[:100], PNG[100:]]),
            E.TOO_LARGE,
            "image is more",
            settings={"storage__max_file_bytes": 150},
        ),
        id="download-over-the-cap-streamed",
    ),
    pytest.param(
        Fault(
            generated(),
            E.STORAGE_ERROR,
            Step.STORE,
            "could not store the image",
            download=image(PNG),
            blocks_storage_of=PNG,
        ),
        id="store-directory-impossible",
    ),
    pytest.param(
        downloaded(deleting_the_story(image(PNG)), None, "story_deleted"),
        id="update-story-deleted",
    ),
]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failure_at_any_step_fails_only_that_portrait_once_and_leaves_no_file(
    fault: Fault, launch: Launch, httpx_mock: HTTPXMock, logs: list[Record], files: Path
) -> None:
    # One worker: a story submitted afterwards is portrayed only once this job has ended.
    system = launch(portraits__concurrency=1, **fault.settings)
    leftovers: list[Path] = []
    if fault.blocks_storage_of is not None:
        # A regular file where the content-addressed directory must go: mkdir fails.
        blocker = files / sha256(fault.blocks_storage_of)[:2]
        blocker.write_bytes(b"")
        leftovers.append(blocker)
    written_meanwhile: list[Story] = []

    def recraft(request: httpx.Request) -> httpx.Response:
        # P6: a story is created while this portrait is in flight, from the worker's thread.
        written_meanwhile.append(submit_unportrayed(system, "Written while a portrait runs"))
        return fault.recraft(request, system)

    httpx_mock.add_callback(recraft, method="POST", url=GENERATIONS_URL)
    download = fault.download
    if download is not None:
        httpx_mock.add_callback(
            lambda request: download(request, system), method="GET", url=IMAGE_URL
        )

    story = submit(system, title=FAILING_TITLE)
    done: Story | None = None
    if fault.code is None:
        with pytest.raises(StoryNotFound):
            system.wait_for_portrait(story.id, timeout=WAIT_S)
    else:
        done = system.wait_for_portrait(story.id, timeout=WAIT_S)
        assert done.portrait_status is PortraitStatus.FAILED
        assert done.portrait_error is not None
        assert done.portrait_error.startswith(f"{fault.code}: ")
        assert fault.detail in done.portrait_error
        assert done.storage_id is None
        assert (done.title, done.body) == (story.title, story.body)

    # P6: stories are still created, during the failure and after it.
    after = submit_unportrayed(system, "Written after a portrait failed")
    assert system.wait_for_portrait(after.id, timeout=WAIT_S).portrait_status is (
        PortraitStatus.SKIPPED
    )
    (meanwhile,) = written_meanwhile
    assert system.wait_for_portrait(meanwhile.id, timeout=WAIT_S).portrait_status is (
        PortraitStatus.SKIPPED
    )

    # Exactly one line at WARNING or above about this story, naming the failed step.
    (line,) = warnings_for(logs, story.id)
    assert line["extra"]["step"] == fault.step
    assert fault.detail in line["message"]
    if fault.code is not None:
        assert line["extra"]["code"] == fault.code

    assert stored_files(files) == leftovers  # temporary files included
    assert len(httpx_mock.get_requests(method="POST")) == 1  # never called twice
    assert_key_never_leaked(logs, done, system.get_story(story.id))
