"""How an exception is shown in a crash log or a stored error: its type and a scrubbed
message, never a repr that can hold a header."""

from __future__ import annotations

import httpx
import pytest

from vignette.errors import describe

KEY = "rk-secret-1234567890"


def test_an_encode_error_on_a_header_never_shows_the_header() -> None:
    with pytest.raises(UnicodeEncodeError) as caught:
        httpx.Request("POST", "https://x.test", headers={"Authorization": f"Bearer {KEY}é"})
    assert KEY in repr(caught.value)  # the repr a `{!r}` log would have shown

    shown = describe(caught.value)

    assert shown.startswith("UnicodeEncodeError: ")
    assert KEY not in shown


@pytest.mark.parametrize(
    "message",
    [
        f"sent Authorization: Bearer {KEY} and failed",
        f"api_key={KEY}",
        f"token '{KEY}' refused",
    ],
)
def test_a_credential_in_a_message_is_hidden(message: str) -> None:
    shown = describe(RuntimeError(message))

    assert shown.startswith("RuntimeError: ")
    assert KEY not in shown
    assert "[hidden]" in shown


def test_a_long_message_is_cut_and_no_exception_is_said_plainly() -> None:
    assert len(describe(ValueError("x" * 5000))) < 400
    assert describe(None) == "no exception"
    assert describe(KeyError()) == "KeyError"
