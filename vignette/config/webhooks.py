"""The `[webhooks]` settings and the webhook signing secrets' form.

Completion events are POSTed to `webhooks.url` (empty = off), signed as the Standard
Webhooks specification has it with `VIGNETTE_WEBHOOK_SECRET` (and, while rotating,
`VIGNETTE_WEBHOOK_SECRET_PREVIOUS`): `whsec_` and the base64 of 24 to 64 random bytes.
Those come from the environment only and are never shown.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

from vignette.config.fields import Bool, flag
from vignette.config.loading import ConfigError

WebhookEvent = Literal["portrait.stored", "portrait.failed", "portrait.skipped", "story.deleted"]
WEBHOOK_EVENTS: tuple[str, ...] = get_args(WebhookEvent)
SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)


def secret_key(value: str) -> bytes:
    """The key bytes of a `whsec_` secret; ValueError (never showing it) if malformed."""
    if not value.startswith(SECRET_PREFIX):
        raise ValueError("must start with whsec_ (the value is not shown)")
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be whsec_ and base64 (the value is not shown)") from None
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        raise ValueError(
            f"must hold {low} to {high} bytes after whsec_, not {len(key)} (the value is not shown)"
        )
    return key


def _webhook_secret(variable: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return None
        try:
            secret_key(value)
        except ValueError as error:
            raise ConfigError(f"{variable} is not allowed: {error}") from None
        return value

    return BeforeValidator(check)


WebhookSecret = Annotated[SecretStr | None, _webhook_secret("VIGNETTE_WEBHOOK_SECRET")]
PreviousWebhookSecret = Annotated[
    SecretStr | None, _webhook_secret("VIGNETTE_WEBHOOK_SECRET_PREVIOUS")
]


def _event_names(value: Any) -> Any:
    if not isinstance(value, list | tuple) or not all(item in WEBHOOK_EVENTS for item in value):
        raise ValueError("not a list of event types")
    return tuple(dict.fromkeys(value))


def _delays(value: Any) -> Any:
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, int | float) and not isinstance(item, bool) and 0 <= item <= 604_800
        for item in value
    ):
        raise ValueError("not a list of delays")
    return tuple(float(item) for item in value)


class WebhookSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Where completion events are POSTed; empty turns webhooks off.
    url: str = Field(
        pattern=r"^(https?://[^\s/]+(/\S*)?)?$",
        description="an http(s) URL such as https://host/hooks, or empty (off)",
    )
    events: Annotated[tuple[str, ...], BeforeValidator(_event_names)] = Field(
        description="a list of event types from " + ", ".join(WEBHOOK_EVENTS)
    )
    # Waits between attempts: one more attempt than there are delays, then `failed`.
    retry_delays_s: Annotated[tuple[float, ...], BeforeValidator(_delays)] = Field(
        description="a list of numbers of seconds from 0 to 604800, such as [5, 300]"
    )
    allow_insecure_urls: Bool = flag()
