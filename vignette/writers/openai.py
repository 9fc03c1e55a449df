"""The language-model story writer: one chat completion per story, over any server that
speaks OpenAI's API (OpenAI, Ollama, vLLM, LM Studio, llama.cpp...).

The system prompt comes from a file (`stories.prompt_file`, or the shipped
`config/story_prompt.md`); the user message, written here, carries the topic and the
answer's contract, so a replaced prompt cannot loosen it. The answer is requested as JSON
with a strict schema, or in plain JSON mode from servers that reject schemas (remembered per
writer), and checked field by field (`writers/openai_answer.py`). Every failure leaves as a
`StoryGenerationError` whose message names the cause; httpx's exceptions never escape, and
the API key, sent only in the Authorization header, is scrubbed from every message.
"""

from __future__ import annotations

from pathlib import Path
from time import monotonic
from typing import Any

import httpx
from loguru import logger
from pydantic import SecretStr

from vignette.config import ConfigError, Settings, StorySettings
from vignette.config.settings import DEFAULT_FILE
from vignette.download.guard import is_local_host
from vignette.errors import InvalidStory, StoryGenerationError
from vignette.net.messages import scrub
from vignette.net.tls import shared_ssl_context
from vignette.records import MAX_BODY_CHARS, MAX_TITLE_CHARS, StoryDraft
from vignette.writers.openai_answer import (
    Answer,
    BadAnswer,
    UnusableAnswer,
    error_detail,
    read_story,
    rejects_json_schema,
    story_schema,
)

SHIPPED_PROMPT = DEFAULT_FILE.with_name("story_prompt.md")
MAX_TOPIC_CHARS = 200
# A story is at most about 21,000 characters; an answer far larger is a broken server.
MAX_ANSWER_BYTES = 1024 * 1024


def load_system_prompt(prompt_file: str) -> str:
    """The system prompt: the file `prompt_file` names, or the shipped one when it is empty."""
    path = Path(prompt_file).expanduser() if prompt_file.strip() else SHIPPED_PROMPT
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"stories.prompt_file = {prompt_file!r} cannot be read: {type(error).__name__}: {error}"
        ) from None
    if not text.strip():
        raise ConfigError(
            f"stories.prompt_file = {prompt_file!r} is not allowed: the file is empty"
        )
    return text.strip()


class OpenAIWriter:
    """Writes stories with a language model behind an OpenAI-compatible chat completions API.

    Thread-safe enough to share, but meant for the one StoryActor that calls it: each
    `write` opens its own HTTP client and closes it, so there is nothing to shut down.
    """

    def __init__(
        self, settings: StorySettings, *, api_key: SecretStr | None, prompt_limit: int
    ) -> None:
        self._settings = settings
        self._api_key = api_key
        self._prompt_limit = prompt_limit
        self.system_prompt = load_system_prompt(settings.prompt_file)
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        # Cleared the first time the server rejects json_schema output; JSON mode from then on.
        self.json_schema_supported = True
        self._where = f"story model {settings.model} at {settings.base_url}"
        host = httpx.URL(settings.base_url).host
        if api_key is None:
            logger.info(
                "OPENAI_API_KEY is not set: the story writer sends no Authorization header "
                "(fine for a local server)"
            )
        elif settings.base_url.startswith("http://") and not is_local_host(host):
            logger.warning(
                "stories.base_url is plain http to {}: OPENAI_API_KEY travels unencrypted", host
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIWriter:
        return cls(
            settings.stories,
            api_key=settings.openai_api_key,
            prompt_limit=settings.recraft.prompt_limit,
        )

    # The request -------------------------------------------------------------------------

    def user_message(self, topic: str | None) -> str:
        """The task and the answer's contract; the topic, when there is one."""
        if topic is None:
            about = "Choose the clinical area, the patient and the setting yourself."
        else:
            about = (
                f"Topic: {topic}. The patient's complaint and the setting fit this topic; "
                "choose the patient yourself."
            )
        return (
            f"Write one new patient story. {about}\n\n"
            'Answer with one JSON object with exactly the keys "title" (at most '
            f'{MAX_TITLE_CHARS} characters), "body" (at most {MAX_BODY_CHARS:,} characters) and '
            f'"image_generation_prompt" (at most {self._prompt_limit:,} characters), each a '
            "non-empty string."
        )

    def request_body(self, seed: int | None, topic: str | None) -> dict[str, Any]:
        response_format: dict[str, Any] = (
            {"type": "json_schema", "json_schema": story_schema(self._prompt_limit)}
            if self.json_schema_supported
            else {"type": "json_object"}
        )
        body: dict[str, Any] = {
            "model": self._settings.model,
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": self.user_message(topic)},
            ],
            "response_format": response_format,
        }
        if seed is not None:
            body["seed"] = seed
        return body

    # Writing -----------------------------------------------------------------------------

    def write(self, seed: int | None = None, topic: str | None = None) -> StoryDraft:
        topic = _checked_topic(topic)
        attempts = self._settings.max_attempts
        with httpx.Client(
            timeout=httpx.Timeout(self._settings.timeout_s),
            verify=shared_ssl_context(),
            follow_redirects=False,
        ) as client:
            for attempt in range(1, attempts + 1):
                try:
                    return self._attempt(client, seed, topic)
                except UnusableAnswer as problem:
                    if attempt == attempts:
                        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
                        raise self._error(f"{problem}{tries}") from None
                    logger.bind(step="write").warning(
                        "the story model's answer was unusable, asking again ({}/{}): {}",
                        attempt + 1,
                        attempts,
                        scrub(str(problem), self._api_key),
                    )
        raise AssertionError("unreachable: stories.max_attempts is at least 1")

    def _attempt(self, client: httpx.Client, seed: int | None, topic: str | None) -> StoryDraft:
        answer = self._post(client, self.request_body(seed, topic))
        if self.json_schema_supported and rejects_json_schema(answer):
            self.json_schema_supported = False
            logger.bind(step="write").warning(
                "{} does not take json_schema output ({}); asking in JSON mode from now on",
                self._where,
                scrub(error_detail(answer), self._api_key),
            )
            answer = self._post(client, self.request_body(seed, topic))
        if not 200 <= answer.status < 300:
            raise self._http_error(answer)
        try:
            return read_story(answer, self._prompt_limit)
        except BadAnswer as problem:
            raise self._error(str(problem)) from None

    def _post(self, client: httpx.Client, body: dict[str, Any]) -> Answer:
        """POST one request; read the whole answer within stories.timeout_s."""
        headers = {"Accept": "application/json"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        timeout = self._settings.timeout_s
        deadline = monotonic() + timeout
        too_slow = f"did not answer within {timeout:g} s (stories.timeout_s)"
        try:
            with client.stream("POST", self.url, json=body, headers=headers) as response:
                content = bytearray()
                for chunk in response.iter_bytes():
                    content += chunk
                    if len(content) > MAX_ANSWER_BYTES:
                        raise self._error(
                            f"the answer is larger than {MAX_ANSWER_BYTES:,} bytes; "
                            "no story is that long"
                        )
                    if monotonic() > deadline:
                        raise self._error(too_slow)
                return Answer(response.status_code, response.headers, bytes(content))
        except httpx.TimeoutException:
            raise self._error(too_slow) from None
        except httpx.HTTPError as error:
            raise self._error(
                f"could not reach {self.url}: {type(error).__name__}: {error}"
            ) from None

    # Reading the answer ------------------------------------------------------------------

    def _http_error(self, answer: Answer) -> StoryGenerationError:
        reason = f"answered {answer.status}: {error_detail(answer)}"
        if answer.status == 429:
            retry_after = answer.headers.get("retry-after")
            wait = f" (Retry-After: {retry_after})" if retry_after else ""
            reason = f"answered 429 Too Many Requests{wait}: {error_detail(answer)}"
        elif answer.status in (401, 403):
            reason += (
                "; check OPENAI_API_KEY"
                if self._api_key is not None
                else "; OPENAI_API_KEY is not set"
            )
        return self._error(reason)

    def _error(self, reason: str) -> StoryGenerationError:
        return StoryGenerationError(scrub(f"{self._where}: {reason}", self._api_key))


def _checked_topic(topic: str | None) -> str | None:
    if topic is None:
        return None
    cleaned = " ".join(topic.split())
    if not cleaned:
        raise InvalidStory("topic", "must not be blank")
    if len(cleaned) > MAX_TOPIC_CHARS:
        raise InvalidStory("topic", f"is {len(cleaned):,} characters; at most {MAX_TOPIC_CHARS}")
    return cleaned
