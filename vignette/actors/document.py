"""DocumentActor: the one thread that runs the process's database work.

Each message is one call into `vignette.models` (`stories`, `portraits`, `files`), made in
this actor's thread, on the connection it holds. The actor adds two things: it tells
`on_change` which stories a write changed, and it closes a connection the server dropped,
so that the next message opens a new one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pykka
from pykka.typing import ActorMemberMixin, proxy_method

from vignette.actors.call_records import CallRecords
from vignette.actors.outbox import EventOutbox
from vignette.models import (
    DATABASE_ERRORS,
    Database,
    calls,
    closing_lost_connection,
    files,
    instances,
    portraits,
    settled,
    stories,
)
from vignette.paging import Position
from vignette.records import FileInfo, PortraitJob, PortraitStatus, Story, StoryDraft

T = TypeVar("T")


class DocumentActor(CallRecords, pykka.ThreadingActor):
    # Never keeps the process alive: stop() is bounded and StorySystem stops at exit
    # (system/process.py).
    use_daemon_thread = True

    def __init__(
        self,
        db: Database,
        on_change: Callable[[Sequence[str]], None] = lambda ids: None,
        outbox: EventOutbox | None = None,
    ) -> None:
        super().__init__()
        self._db = db
        self._on_change = on_change
        self._outbox = outbox

    def on_start(self) -> None:
        self._db.connect(reuse_if_open=True)

    def on_stop(self) -> None:
        self._db.close()

    def _changed(self, story_ids: list[str]) -> list[str]:
        if story_ids:
            self._on_change(story_ids)
        return story_ids

    def _settling(self, write: Callable[[], list[str]]) -> list[str]:
        """Run a write that settles portraits (returning their story ids); with webhooks
        on, their events are written in the same transaction, then the dispatcher woken."""
        return write() if self._outbox is None else self._outbox.settling(self._db, write)

    # Stories ------------------------------------------------------------------------------

    def insert_story(self, draft: StoryDraft, deadline: float | None = None) -> Story:
        """Insert a story with its portrait `pending`: the row is the portrait's schedule."""
        story = stories.insert_story(self._db, draft, deadline)
        self._on_change([story.id])
        return story

    def get_story(self, story_id: str) -> Story | None:
        return stories.get_story(self._db, story_id)

    def list_stories(
        self, status: PortraitStatus | None = None, limit: int = 50, after: Position | None = None
    ) -> list[Story]:
        return stories.list_stories(status, limit, after)

    def count_by_status(self) -> dict[PortraitStatus, int]:
        return stories.count_by_status()

    def settled_since(self, since: datetime, story_id: str | None = None) -> list[Story]:
        """Stories whose portrait settled at or after `since`, oldest first (subscriptions)."""
        return settled.settled_since(since, story_id)

    def count_failures_by_code(self) -> dict[str, int]:
        return stories.count_failures_by_code()

    def delete_story(self, story_id: str, deadline: float | None = None) -> str | None:
        """Delete a story; return the storage id its portrait had, if any."""
        if self._outbox is None:
            storage_id = stories.delete_story(self._db, story_id, deadline)
        else:
            storage_id = self._outbox.deleting(self._db, story_id, deadline)
        self._on_change([story_id])
        return storage_id

    def reschedule_portrait(
        self, story_id: str, force: bool = False, deadline: float | None = None
    ) -> Story:
        """Make a failed or skipped portrait `pending` again (a stored one too, with `force`)."""
        story = stories.reschedule_portrait(self._db, story_id, force, deadline)
        self._on_change([story_id])
        return story

    # Portrait transitions -----------------------------------------------------------------

    def claim_portrait(
        self,
        story_id: str | None = None,
        owner: str = "",
        lease_s: float = 60.0,
        deadline: float | None = None,
    ) -> PortraitJob | None:
        """Claim the oldest `pending` portrait (or that story's); None when none is pending."""
        job = portraits.claim_portrait(self._db, story_id, owner, lease_s, deadline)
        if job is not None:
            self._on_change([job.story_id])
        return job

    def unclaim(self, job: PortraitJob) -> bool:
        """Give back a claim that no worker received, and its unsent call's ledger row;
        False if it is gone."""
        given_back = portraits.unclaim(job)
        if given_back:
            calls.forget_unsent(self._db, job)
        return bool(self._changed([job.story_id] if given_back else []))

    def renew_leases(self, owner: str, lease_s: float) -> int:
        return portraits.renew_leases(owner, lease_s)

    def beat(self, instance: str, ttl_s: float) -> None:
        """Renew `instance`'s heartbeat for `ttl_s` seconds, by the database's clock (and
        forget Recraft calls older than the ledger keeps)."""
        instances.beat(self._db, instance, ttl_s)
        calls.forget_old_calls(self._db)

    def expire_leases(self, error: str) -> list[str]:
        """Fail portraits whose lease ran out or whose instance's heartbeat expired."""
        return self._changed(self._settling(lambda: portraits.expire_leases(self._db, error)))

    def fail_orphans(self, owner: str, held: Sequence[str], error: str) -> list[str]:
        return self._changed(self._settling(lambda: portraits.fail_orphans(owner, held, error)))

    def count_pending(self) -> int:
        return portraits.count_pending()

    def count_expired_leases(self) -> int:
        """`generating` portraits whose lease has expired (`status` shows them stale)."""
        return portraits.count_expired_leases(self._db)

    def store_portrait(
        self,
        job: PortraitJob,
        sha256: str,
        size: int,
        content_type: str,
        deadline: float | None = None,
    ) -> FileInfo | None:
        """Record a stored image's row and settle the story on it, in one transaction."""
        stored: list[FileInfo] = []

        def store() -> list[str]:
            info = portraits.store_portrait(self._db, job, sha256, size, content_type, deadline)
            stored[:] = [] if info is None else [info]
            return [job.story_id] if stored else []

        self._settling(store)
        info = stored[0] if stored else None
        if info is not None:
            self._on_change([job.story_id])
        return info

    def fail_portrait(
        self, job: PortraitJob, status: PortraitStatus, error: str, deadline: float | None = None
    ) -> bool:
        """Record a failed or skipped portrait; False if the claim is gone."""
        settled = bool(
            self._settling(
                lambda: (
                    [job.story_id]
                    if portraits.fail_portrait(self._db, job, status, error, deadline)
                    else []
                )
            )
        )
        if settled:
            self._on_change([job.story_id])
        return settled

    def fail_generating(self, error: str, started_before: datetime | None = None) -> list[str]:
        return self._changed(
            self._settling(lambda: portraits.fail_generating(error, started_before))
        )

    def fail_stale(self, error: str, older_than_s: float) -> list[str]:
        return self._changed(self._settling(lambda: portraits.fail_stale(error, older_than_s)))

    # Stored files -------------------------------------------------------------------------

    def get_file(self, storage_id: str) -> FileInfo | None:
        return files.get_file(storage_id)

    def delete_file(self, storage_id: str) -> tuple[FileInfo, bool] | None:
        return files.delete_file(self._db, storage_id)

    def delete_unreferenced_files(self, older_than_s: float) -> list[tuple[str, bool]]:
        return files.delete_unreferenced(older_than_s)

    def known_contents(self, sha256s: Sequence[str]) -> set[str]:
        return files.known_contents(sha256s)


# Reads are run once more on a new connection when the first finds the old one lost (the
# server restarted, or ended the session): a read changes nothing, so it is safe to repeat.
READS = frozenset(
    {
        "get_story",
        "list_stories",
        "count_by_status",
        "count_failures_by_code",
        "count_pending",
        "count_expired_leases",
        "get_file",
        "known_contents",
        "call_holds",
        "call_usage",
    }
)


def _closing_lost_connections(method: Callable[..., T], read: bool) -> Callable[..., T]:
    """Wrap a DocumentActor method: a lost connection is closed, so the next call reconnects."""

    @functools.wraps(method)
    def call(self: DocumentActor, *args: Any, **kwargs: Any) -> T:
        try:
            with closing_lost_connection(self._db):
                return method(self, *args, **kwargs)
        except DATABASE_ERRORS:
            if not read:
                raise
        with closing_lost_connection(self._db):
            return method(self, *args, **kwargs)

    return call


for _name, _member in [*vars(CallRecords).items(), *vars(DocumentActor).items()]:
    if callable(_member) and not _name.startswith("_") and not _name.startswith("on_"):
        setattr(DocumentActor, _name, _closing_lost_connections(_member, _name in READS))


class DocumentProxy(ActorMemberMixin, pykka.ActorProxy[DocumentActor]):
    """The typed face of a DocumentActor's proxy."""

    insert_story = proxy_method(DocumentActor.insert_story)
    get_story = proxy_method(DocumentActor.get_story)
    list_stories = proxy_method(DocumentActor.list_stories)
    count_by_status = proxy_method(DocumentActor.count_by_status)
    settled_since = proxy_method(DocumentActor.settled_since)
    count_failures_by_code = proxy_method(DocumentActor.count_failures_by_code)
    delete_story = proxy_method(DocumentActor.delete_story)
    reschedule_portrait = proxy_method(DocumentActor.reschedule_portrait)
    claim_portrait = proxy_method(DocumentActor.claim_portrait)
    unclaim = proxy_method(DocumentActor.unclaim)
    renew_leases = proxy_method(DocumentActor.renew_leases)
    expire_leases = proxy_method(DocumentActor.expire_leases)
    fail_orphans = proxy_method(DocumentActor.fail_orphans)
    beat = proxy_method(DocumentActor.beat)
    count_pending = proxy_method(DocumentActor.count_pending)
    count_expired_leases = proxy_method(DocumentActor.count_expired_leases)
    store_portrait = proxy_method(DocumentActor.store_portrait)
    fail_portrait = proxy_method(DocumentActor.fail_portrait)
    fail_generating = proxy_method(DocumentActor.fail_generating)
    fail_stale = proxy_method(DocumentActor.fail_stale)
    claim_within_limits = proxy_method(DocumentActor.claim_within_limits)
    admit_call = proxy_method(DocumentActor.admit_call)
    record_call_outcome = proxy_method(DocumentActor.record_call_outcome)
    set_hold = proxy_method(DocumentActor.set_hold)
    clear_holds = proxy_method(DocumentActor.clear_holds)
    call_holds = proxy_method(DocumentActor.call_holds)
    call_usage = proxy_method(DocumentActor.call_usage)
    get_file = proxy_method(DocumentActor.get_file)
    delete_file = proxy_method(DocumentActor.delete_file)
    delete_unreferenced_files = proxy_method(DocumentActor.delete_unreferenced_files)
    known_contents = proxy_method(DocumentActor.known_contents)
