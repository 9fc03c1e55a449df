"""The kinds of value a setting holds, and the words an error uses to say what is allowed.

Environment variables arrive as text. `Int`, `Float` and `Bool` read it (an integer's digits;
whatever `float()` reads; true/false, 1/0, yes/no, on/off in any case) and otherwise take only
their own type: a TOML `port = true` or `port = 80.5` is refused, not converted. Each field
helper returns a pydantic `Field` whose `description` is what an error names as allowed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, Strict

_BOOL_WORDS = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}


def _int_from_text(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    return value


def _float_from_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        return value


def _bool_from_text(value: Any) -> Any:
    return _BOOL_WORDS.get(value.strip().lower(), value) if isinstance(value, str) else value


def _existing_file_or_empty(value: str) -> str:
    if value.strip() and not Path(value).expanduser().is_file():
        raise ValueError("no such file")
    return value


_HOST_NAME = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)$")


def _host_names(value: Any) -> Any:
    """A list of host names, lower-cased; anything else is refused."""
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, str) and _HOST_NAME.match(item.strip().lower()) for item in value
    ):
        raise ValueError("not a list of host names")
    return tuple(item.strip().lower() for item in value)


def _secret_from_text(value: Any) -> Any:
    """Surrounding whitespace is dropped, and a blank key counts as no key. A key is sent
    in an HTTP header, so it must be printable ASCII; the refusal never shows the value."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    for position, character in enumerate(value):
        if not (" " <= character <= "~"):
            raise ValueError(
                f"must be printable ASCII; character {position + 1} of {len(value)} is not "
                "(the value is not shown)"
            )
    return value or None


Int = Annotated[int, BeforeValidator(_int_from_text), Strict()]
Float = Annotated[float, BeforeValidator(_float_from_text), Strict()]
Bool = Annotated[bool, BeforeValidator(_bool_from_text), Strict()]
FilePathOrEmpty = Annotated[str, AfterValidator(_existing_file_or_empty)]
Secret = Annotated[SecretStr | None, BeforeValidator(_secret_from_text)]
HostNames = Annotated[tuple[str, ...], BeforeValidator(_host_names)]


def between(low: int, high: int, allowed: str | None = None) -> Any:
    """An integer field from `low` to `high`."""
    return Field(ge=low, le=high, description=allowed or f"an integer from {low} to {high}")


def seconds(high: float, *, zero: bool = False) -> Any:
    """A duration field above 0 (or from 0, with `zero`) and at most `high` seconds."""
    if zero:
        return Field(ge=0, le=high, description=f"a number of seconds from 0 to {high:g}")
    return Field(gt=0, le=high, description=f"a number of seconds above 0 and at most {high:g}")


def one_of(choices: Any) -> Any:
    """A field holding one of the strings of the `Literal` type `choices`."""
    return Field(description="one of " + ", ".join(get_args(choices)))


def flag() -> Any:
    """A `Bool` field."""
    return Field(description="true or false")


def non_empty() -> Any:
    """A string field with more than whitespace in it."""
    return Field(pattern=r"\S", description="a non-empty string")


def http_url() -> Any:
    """A string field holding an http or https URL."""
    return Field(
        pattern=r"^https?://[^\s/]+(/\S*)?$", description="an http(s) URL such as https://host/v1"
    )
