"""An OpenAI-compatible server's answers: the JSON schema a story answer must follow, the
story a chat completion carries, checked field by field, and what an error answer says.

A problem with an answer is one of two kinds. `UnusableAnswer`: the server delivered, but the
story is malformed (not JSON, a field missing, empty or too long, cut off at the length
limit), so asking again may help. `BadAnswer`: the answer holds no story and asking again
would not change that (not a chat completion, a refusal, the content filter).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from vignette.net.messages import excerpt
from vignette.records import MAX_BODY_CHARS, MAX_TITLE_CHARS, StoryDraft

FIELDS = ("title", "body", "image_generation_prompt")
_FENCED = re.compile(r"\s*```[A-Za-z]*\s*\n(.*?)\n?\s*```\s*", re.DOTALL)


def story_schema(prompt_limit: int) -> dict[str, Any]:
    """The strict JSON schema of an answer (limits are described: strict mode has no maxLength)."""

    def text(description: str) -> dict[str, str]:
        return {"type": "string", "description": description}

    return {
        "name": "patient_story",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "title": text(
                    f"The patient's name, age and complaint; at most {MAX_TITLE_CHARS} characters"
                ),
                "body": text(f"The patient's story; at most {MAX_BODY_CHARS:,} characters"),
                "image_generation_prompt": text(
                    "A photographic portrait of the patient: age, appearance, setting, mood, "
                    f"photographic style; nothing graphic; at most {prompt_limit:,} characters"
                ),
            },
            "required": list(FIELDS),
            "additionalProperties": False,
        },
    }


class UnusableAnswer(Exception):
    """An answer the server delivered but whose story is malformed: worth asking again."""


class BadAnswer(Exception):
    """An answer that holds no story, and would not on a second asking."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer, read whole: its status, headers and body."""

    status: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def read_story(answer: Answer, prompt_limit: int) -> StoryDraft:
    """The story in a successful chat completion; `UnusableAnswer` or `BadAnswer` if none."""
    try:
        completion = json.loads(answer.content)
    except (ValueError, RecursionError):
        raise BadAnswer(
            f"answered {answer.status} with something that is not JSON: "
            f"{excerpt(answer.text) or '(empty body)'}"
        ) from None
    choices = completion.get("choices") if isinstance(completion, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise BadAnswer(
            f"the answer is not a chat completion (no choices[0].message): {excerpt(answer.text)}"
        )
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        raise BadAnswer(f"the model refused: {excerpt(refusal)}")
    finish_reason = choice.get("finish_reason")
    if finish_reason == "content_filter":
        raise BadAnswer(
            "the server's content filter withheld the answer (finish_reason content_filter)"
        )
    if finish_reason == "length":
        raise UnusableAnswer(
            "the answer was cut off at the model's length limit (finish_reason length) "
            "before its JSON was complete"
        )
    return _draft(message.get("content"), prompt_limit)


def _draft(content: Any, prompt_limit: int) -> StoryDraft:
    if not isinstance(content, str) or not content.strip():
        raise UnusableAnswer("the answer has no content")
    fenced = _FENCED.fullmatch(content)  # some local models fence JSON even in JSON mode
    try:
        data = json.loads(fenced.group(1) if fenced else content)
    except json.JSONDecodeError as error:
        raise UnusableAnswer(
            f"the answer is not valid JSON ({error.msg} at character {error.pos}): "
            f"{excerpt(content)}"
        ) from None
    except RecursionError:
        raise UnusableAnswer("the answer's JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise UnusableAnswer(f"the answer is JSON but not an object: {excerpt(content)}")
    limits = {
        "title": MAX_TITLE_CHARS,
        "body": MAX_BODY_CHARS,
        "image_generation_prompt": prompt_limit,
    }
    values: dict[str, str] = {}
    for name in FIELDS:
        if name not in data:
            keys = ", ".join(sorted(map(str, data))) or "none"
            raise UnusableAnswer(f"the answer has no {name} (its keys: {excerpt(keys)})")
        value = data[name]
        if not isinstance(value, str):
            raise UnusableAnswer(f"{name} is {type(value).__name__}, not a string")
        value = value.strip()
        if not value:
            raise UnusableAnswer(f"{name} is empty")
        if len(value) > limits[name]:
            raise UnusableAnswer(f"{name} is {len(value):,} characters; at most {limits[name]:,}")
        values[name] = value
    return StoryDraft(**values)


def error_detail(answer: Answer) -> str:
    """A short reading of an error answer: OpenAI's `{error: {message, code}}`, or the text."""
    try:
        body = json.loads(answer.content)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            code = error.get("code")
            return excerpt(f"{error['message']} ({code})" if code else str(error["message"]))
        if isinstance(error, str) and error.strip():
            return excerpt(error)
    return excerpt(answer.text) or "(empty body)"


def rejects_json_schema(answer: Answer) -> bool:
    """A 400 (or 422) that blames the response_format: the server has no json_schema mode."""
    if answer.status not in (400, 422):
        return False
    text = answer.text.lower()
    return "response_format" in text or "json_schema" in text
