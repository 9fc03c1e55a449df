"""Coroutine twins of StorySystem's blocking methods, for async hosts (FastAPI, async Django
views, an asyncio worker): the same name with an `a` prefix, as Django names its own, and
`await_for_portrait` for `wait_for_portrait`.

None blocks the event loop. A twin hands its blocking method to a small pool of daemon
threads of Vignette's (never the loop's default executor, which the host owns, and never a
thread that could keep the process from exiting) and awaits its result; handing over is a
queue put, so many twins started at once do not hold the loop while threads start.
`await_for_portrait` holds no thread while it waits: the story's change notices wake the
waiting task, and it re-reads the story (in such a thread) at least once a second, in case
another process settled it.

Cancelling the awaiting task only stops the waiting: a portrait keeps being made, and a
story whose insert had begun is stored all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from vignette.errors import StoryNotFound
from vignette.paging import StoryPage
from vignette.records import FileInfo, PortraitStatus, Story
from vignette.system.changes import ChangeFeed

if TYPE_CHECKING:
    from vignette.actors.messages import PortraitSideStatus
    from vignette.system.facade import Health

T = TypeVar("T")

# await_for_portrait re-reads at least this often: another process may settle the portrait.
AWAIT_SLICE_S = 1.0


# Threads the twins' blocking calls run in, at most; more calls at once wait their turn.
POOL_THREADS = 16


def _settle(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled
        return
    if error is None:
        future.set_result(result)  # type: ignore[arg-type]
    else:
        future.set_exception(error)


class _DaemonPool:
    """Daemon threads that run calls from a queue.

    They are started on first use by a thread of their own: `Thread.start` waits until the
    new thread runs, which on a busy machine takes milliseconds each, and the first submit
    comes from the host's event loop.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = False

    def submit(self, call: Callable[[], None]) -> None:
        self._calls.put(call)
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(
            target=self._start_workers, name="vignette-async-start", daemon=True
        ).start()

    def _start_workers(self) -> None:
        for number in range(self._size):
            name = f"vignette-async-{number}"
            threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while True:
            self._calls.get()()


_pool = _DaemonPool(POOL_THREADS)


async def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `function` in one of Vignette's daemon threads; await what it returns or raises."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = function(*args, **kwargs)
        except BaseException as raised:  # noqa: BLE001 - handed to the awaiting task
            error = raised
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits it
            loop.call_soon_threadsafe(_settle, future, result, error)

    _pool.submit(run)
    return await future


class _LoopWaker:
    """Wakes an asyncio task from the thread that changed its story."""

    def __init__(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        self._loop = loop
        self._event = event

    def set(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self._loop.call_soon_threadsafe(self._event.set)


class Blocking(Protocol):
    """The blocking methods the twins run: StorySystem's."""

    _changes: ChangeFeed

    def submit_story(self, *, title: str, body: str, image_generation_prompt: str) -> Story: ...
    def generate_story(self, *, seed: int | None = None, topic: str | None = None) -> Story: ...
    def get_story(self, story_id: str) -> Story | None: ...
    def list_stories(
        self,
        status: PortraitStatus | str | None = None,
        limit: int = 50,
        *,
        cursor: str | None = None,
    ) -> list[Story]: ...
    def list_page(
        self,
        status: PortraitStatus | str | None = None,
        limit: int = 50,
        *,
        cursor: str | None = None,
    ) -> StoryPage: ...
    def count_by_status(self) -> dict[PortraitStatus, int]: ...
    def count_failures_by_code(self) -> dict[str, int]: ...
    def delete_story(self, story_id: str) -> None: ...
    def regenerate_portrait(self, story_id: str, *, force: bool = False) -> Story: ...
    def read_file(self, storage_id: str) -> tuple[bytes, str]: ...
    def file_info(self, storage_id: str) -> FileInfo | None: ...
    def portrait_side(self) -> PortraitSideStatus: ...
    def health(self, timeout: float = ...) -> Health: ...
    def stop(self, grace_s: float | None = None) -> None: ...
    async def aget_story(self, story_id: str) -> Story | None: ...


class AsyncTwins:
    """The `a`-prefixed twins; mixed into `StorySystem`."""

    async def asubmit_story(
        self: Blocking, *, title: str, body: str, image_generation_prompt: str
    ) -> Story:
        return await in_thread(
            self.submit_story,
            title=title,
            body=body,
            image_generation_prompt=image_generation_prompt,
        )

    async def agenerate_story(
        self: Blocking, *, seed: int | None = None, topic: str | None = None
    ) -> Story:
        return await in_thread(self.generate_story, seed=seed, topic=topic)

    async def aget_story(self: Blocking, story_id: str) -> Story | None:
        return await in_thread(self.get_story, story_id)

    async def alist_stories(
        self: Blocking,
        status: PortraitStatus | str | None = None,
        limit: int = 50,
        *,
        cursor: str | None = None,
    ) -> list[Story]:
        return await in_thread(self.list_stories, status, limit, cursor=cursor)

    async def alist_page(
        self: Blocking,
        status: PortraitStatus | str | None = None,
        limit: int = 50,
        *,
        cursor: str | None = None,
    ) -> StoryPage:
        return await in_thread(self.list_page, status, limit, cursor=cursor)

    async def acount_by_status(self: Blocking) -> dict[PortraitStatus, int]:
        return await in_thread(self.count_by_status)

    async def acount_failures_by_code(self: Blocking) -> dict[str, int]:
        return await in_thread(self.count_failures_by_code)

    async def adelete_story(self: Blocking, story_id: str) -> None:
        await in_thread(self.delete_story, story_id)

    async def aregenerate_portrait(self: Blocking, story_id: str, *, force: bool = False) -> Story:
        return await in_thread(self.regenerate_portrait, story_id, force=force)

    async def aread_file(self: Blocking, storage_id: str) -> tuple[bytes, str]:
        """A stored file's bytes and content type (`open_file` has no twin: reading a file
        object would block the loop)."""
        return await in_thread(self.read_file, storage_id)

    async def afile_info(self: Blocking, storage_id: str) -> FileInfo | None:
        return await in_thread(self.file_info, storage_id)

    async def aportrait_side(self: Blocking) -> PortraitSideStatus:
        return await in_thread(self.portrait_side)

    async def ahealth(self: Blocking, timeout: float = 5.0) -> Health:
        return await in_thread(self.health, timeout)

    async def astop(self: Blocking, grace_s: float | None = None) -> None:
        await in_thread(self.stop, grace_s)

    async def await_for_portrait(
        self: Blocking, story_id: str, timeout: float | None = None
    ) -> Story:
        """Wait until the story's portrait is stored, failed or skipped; else TimeoutError
        after `timeout` seconds (None: no limit, for a host that uses `asyncio.timeout`)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        changed = asyncio.Event()
        with self._changes.watch_with(story_id, _LoopWaker(loop, changed)):
            while True:
                changed.clear()
                story = await self.aget_story(story_id)
                if story is None:
                    raise StoryNotFound(story_id)
                if story.portrait_status.is_terminal:
                    return story
                wait = AWAIT_SLICE_S
                if deadline is not None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise TimeoutError(
                            f"story {story_id}'s portrait is still {story.portrait_status} "
                            f"after {timeout:g} s"
                        )
                    wait = min(wait, remaining)
                # asyncio.timeout, not wait_for: on 3.11, wait_for may turn a cancellation that
                # meets its own timeout into a TimeoutError, which would swallow it here.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await changed.wait()
