"""API tokens: made once and shown once, kept only as a hash, shared through the database,
checked in constant time, revoked by name."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from vignette.models import release_connections
from vignette.system.tokens import TOKEN_PREFIX, ApiTokens, TokenError


@pytest.fixture
def tokens(database_url: str) -> ApiTokens:
    return ApiTokens(database_url)


def test_with_no_token_nothing_is_required(tokens: ApiTokens) -> None:
    assert not tokens.exist()
    verdict = tokens.check(None)
    assert (verdict.required, verdict.caller) == (False, None)


def test_a_new_token_is_random_prefixed_and_names_its_caller(tokens: ApiTokens) -> None:
    made, token = tokens.create("ci-bot")
    other_made, other = tokens.create("laptop")

    assert token.startswith(TOKEN_PREFIX)
    assert len(token) > 40
    assert token != other
    assert made.name == "ci-bot"
    assert [t.name for t in tokens.list()] == ["ci-bot", "laptop"]
    assert tokens.exist()
    assert tokens.check(token).caller == "ci-bot"
    assert tokens.check(other).caller == "laptop"
    assert other_made.created_at >= made.created_at


@pytest.mark.parametrize("presented", [None, "", "vgn_wrong", "Bearer x"])
def test_a_missing_or_wrong_token_names_no_caller_once_tokens_exist(
    tokens: ApiTokens, presented: str | None
) -> None:
    tokens.create("ci-bot")
    verdict = tokens.check(presented)
    assert (verdict.required, verdict.caller) == (True, None)


def test_a_revoked_token_no_longer_passes(tokens: ApiTokens) -> None:
    _, kept = tokens.create("kept")
    _, revoked = tokens.create("revoked")

    tokens.revoke("revoked")

    assert tokens.check(revoked).caller is None
    assert tokens.check(kept).caller == "kept"
    assert [t.name for t in tokens.list()] == ["kept"]


def test_revoking_an_unknown_name_is_one_line(tokens: ApiTokens) -> None:
    with pytest.raises(TokenError, match="no API token is named 'nobody'"):
        tokens.revoke("nobody")


def test_a_name_is_used_once(tokens: ApiTokens) -> None:
    tokens.create("ci-bot")
    with pytest.raises(TokenError, match="already"):
        tokens.create("ci-bot")
    assert len(tokens.list()) == 1


@pytest.mark.parametrize("name", ["", " ", "a b", "x" * 65, "naïve", "-leading"])
def test_a_bad_name_is_refused(tokens: ApiTokens, name: str) -> None:
    with pytest.raises(TokenError, match="letters, digits"):
        tokens.create(name)
    assert tokens.list() == []


@pytest.mark.sqlite_only
def test_only_the_hash_is_stored(tokens: ApiTokens, database_url: str) -> None:
    _, token = tokens.create("ci-bot")
    release_connections(tokens.database)
    path = Path(database_url.removeprefix("sqlite:///"))
    for file in path.parent.glob(path.name + "*"):
        assert token.encode() not in file.read_bytes()
        assert token[len(TOKEN_PREFIX) :].encode() not in file.read_bytes()


def test_another_instance_on_the_database_sees_the_same_tokens(database_url: str) -> None:
    _, token = ApiTokens(database_url).create("shared")
    seen: list[str | None] = []
    # Checked from another thread, as the HTTP server's threads do.
    thread = threading.Thread(
        target=lambda: seen.append(ApiTokens(database_url).check(token).caller)
    )
    thread.start()
    thread.join(timeout=30)
    assert seen == ["shared"]
