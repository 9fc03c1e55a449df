"""API tokens' rows: a name and the sha256 of the token, never the token itself.

Each change is one statement: an insert that the unique name refuses when it is taken, a
delete by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from peewee import Database, IntegrityError

from vignette.models.tables import ApiTokenRow, aware, new_id, utc_now


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as it may be shown: its name and when it was made."""

    name: str
    created_at: datetime


def insert_token(db: Database, name: str, token_hash: str) -> ApiToken | None:
    """Store a token's hash under `name`; None when that name is taken."""
    now = utc_now()
    try:
        with db.atomic():
            ApiTokenRow.insert(
                id=new_id(), name=name, token_hash=token_hash, created_at=now
            ).execute()
    except IntegrityError:
        return None
    return ApiToken(name, aware(now))


def list_tokens() -> list[ApiToken]:
    """Every token's name and creation time, oldest first."""
    query = ApiTokenRow.select(ApiTokenRow.name, ApiTokenRow.created_at).order_by(
        ApiTokenRow.created_at, ApiTokenRow.name
    )
    return [ApiToken(row.name, aware(row.created_at)) for row in query]


def token_hashes() -> list[tuple[str, str]]:
    """Every token's (name, sha256 hex digest)."""
    query = ApiTokenRow.select(ApiTokenRow.name, ApiTokenRow.token_hash)
    return [(str(row.name), str(row.token_hash)) for row in query]


def delete_token(db: Database, name: str) -> bool:
    """Remove the token named `name`; whether there was one."""
    deleted: int = ApiTokenRow.delete().where(ApiTokenRow.name == name).execute()
    return deleted > 0
