"""The helpers both provider clients write their messages with: scrubbing a key, excerpts."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from vignette.net.messages import EXCERPT_CHARS, excerpt, scrub

KEY = "sk-test-9c2e7a41d05b"


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(f"token {KEY} is not valid", id="inside"),
        pytest.param(KEY, id="alone"),
        pytest.param(f"{KEY}{KEY} and again {KEY}", id="several"),
        pytest.param(f"https://img.example/a?key={KEY}&b=1", id="in-a-url"),
    ],
)
def test_the_key_never_appears_in_the_scrubbed_message(message: str) -> None:
    scrubbed = scrub(message, SecretStr(KEY))

    assert KEY not in scrubbed
    assert "[redacted]" in scrubbed
    assert scrubbed.replace("[redacted]", KEY) == message


@pytest.mark.parametrize(
    "key",
    [pytest.param(None, id="no-key"), pytest.param(SecretStr(""), id="blank-key")],
)
def test_no_key_or_a_blank_one_leaves_the_message_as_it_is(key: SecretStr | None) -> None:
    message = f"token {KEY} is not valid"

    assert scrub(message, key) == message


def test_a_message_without_the_key_is_left_as_it_is() -> None:
    assert scrub("request unauthorized", SecretStr(KEY)) == "request unauthorized"


def test_an_excerpt_is_one_line_and_cut_at_its_limit() -> None:
    assert excerpt("  a\n\tb   c \n") == "a b c"
    assert excerpt("x" * EXCERPT_CHARS) == "x" * EXCERPT_CHARS
    assert excerpt("x" * (EXCERPT_CHARS + 1)) == "x" * EXCERPT_CHARS + "..."
