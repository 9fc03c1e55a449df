"""Standard Webhooks signatures, made with the `standardwebhooks` package.

`webhook-signature` is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the
bytes of the secret after `whsec_`; with a second secret configured (during rotation) the
header holds both signatures, space-separated, so receivers holding either one verify it.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

from vignette.config.webhooks import SECRET_PREFIX, secret_key

# Random bytes in a secret made by `new_secret`: the middle of the 24-64 bytes allowed.
NEW_SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(NEW_SECRET_BYTES)).decode()


class Signer:
    """Signs event bodies with one or two secrets (the current one first)."""

    def __init__(self, secrets_: Sequence[str]) -> None:
        if not secrets_:
            raise ValueError("a webhook needs a signing secret")
        self._webhooks = [Webhook(secret_key(secret)) for secret in secrets_]

    def headers(self, event_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
        """The headers of one attempt: id, this moment's timestamp and the signatures."""
        moment = (now or datetime.now(UTC)).replace(microsecond=0)
        signatures = " ".join(hook.sign(event_id, moment, body) for hook in self._webhooks)
        return {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signatures,
            "content-type": "application/json",
        }
