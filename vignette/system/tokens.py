"""API tokens: made, listed, revoked, and checked for each request.

A token is `vgn_` and 32 random bytes (`secrets.token_urlsafe`); the database keeps only
its sha256, so every instance on the database shares the tokens and a copy of the database
gives none away. A random token of that length needs no slow password hash. A presented
token's digest is compared with every stored one by `hmac.compare_digest`, in constant time.

These functions run in their caller's thread (the HTTP server's worker threads, or the
command line), each inside a connection of its own that is given back at once: they never
wait on the actors.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass

from vignette.errors import VignetteError
from vignette.models import Database, open_database
from vignette.models.tokens import (
    ApiToken,
    delete_token,
    insert_token,
    list_tokens,
    token_hashes,
)

TOKEN_PREFIX = "vgn_"
TOKEN_BYTES = 32
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

__all__ = ["TOKEN_PREFIX", "ApiToken", "ApiTokens", "TokenError", "Verdict"]


class TokenError(VignetteError):
    """A token could not be made or revoked: a bad or taken name, an unknown one."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a request's token is worth: whether tokens are required, and whose it is."""

    required: bool
    caller: str | None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class ApiTokens:
    """The tokens kept in the database at `database_url` (opened on first use)."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._db: Database | None = None
        self._opening = threading.Lock()

    @property
    def database(self) -> Database:
        with self._opening:
            if self._db is None:
                self._db = open_database(self._url)
            return self._db

    def create(self, name: str) -> tuple[ApiToken, str]:
        """Store a new token under `name`; return it with the token, which is not kept."""
        if not NAME.match(name):
            raise TokenError(
                f"{name!r} is not a token name: 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        db = self.database
        with db.connection_context():
            made = insert_token(db, name, token_digest(token))
        if made is None:
            raise TokenError(f"an API token is already named {name!r}: revoke it or pick another")
        return made, token

    def list(self) -> list[ApiToken]:
        with self.database.connection_context():
            return list_tokens()

    def revoke(self, name: str) -> None:
        db = self.database
        with db.connection_context():
            if not delete_token(db, name):
                raise TokenError(f"no API token is named {name!r}")

    def exist(self) -> bool:
        with self.database.connection_context():
            return bool(token_hashes())

    def check(self, presented: str | None) -> Verdict:
        """Whether any token exists, and whose `presented` is (None: no one's)."""
        with self.database.connection_context():
            stored = token_hashes()
        if not stored:
            return Verdict(required=False, caller=None)
        digest = token_digest(presented or "")
        caller = None
        for name, kept in stored:  # every one is compared: the time does not say which
            if hmac.compare_digest(digest, kept) and presented:
                caller = name
        return Verdict(required=True, caller=caller)
