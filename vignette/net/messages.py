"""Making the messages the provider clients write safe and short: API keys scrubbed out,
answers cut to an excerpt."""

from __future__ import annotations

from pydantic import SecretStr

EXCERPT_CHARS = 300
REDACTED = "[redacted]"


def scrub(message: str, key: SecretStr | None) -> str:
    """`message` with every occurrence of the API key replaced by `[redacted]`.

    No key, or a blank one, leaves the message as it is.
    """
    secret = key.get_secret_value() if key is not None else ""
    return message.replace(secret, REDACTED) if secret else message


def excerpt(text: str) -> str:
    """`text` on one line, whitespace runs collapsed, cut to `EXCERPT_CHARS` characters."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."
