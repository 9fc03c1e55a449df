"""ChangeFeed: a watcher is woken by changes to its own story, and never misses one."""

from __future__ import annotations

import threading

from vignette.system.changes import ChangeFeed

TIMEOUT = 10


def test_a_watcher_is_woken_by_its_own_story_only() -> None:
    feed = ChangeFeed()
    with feed.watch("a") as a_changed, feed.watch("b") as b_changed:
        feed.notify(["b"])
        assert b_changed.is_set()
        assert not a_changed.is_set()
        feed.notify(["c", "a"])
        assert a_changed.is_set()


def test_a_change_from_another_thread_wakes_the_waiter() -> None:
    feed = ChangeFeed()
    with feed.watch("a") as changed:
        changed.clear()
        notifier = threading.Thread(target=feed.notify, args=(["a"],))
        notifier.start()
        assert changed.wait(TIMEOUT)
        notifier.join(TIMEOUT)


def test_a_change_between_clear_and_wait_is_not_missed() -> None:
    feed = ChangeFeed()
    with feed.watch("a") as changed:
        changed.clear()
        feed.notify(["a"])  # lands after the clear, before the wait
        assert changed.wait(0)


def test_every_watcher_of_a_story_is_woken_and_forgotten_after_its_block() -> None:
    feed = ChangeFeed()
    with feed.watch("a") as first, feed.watch("a") as second:
        feed.notify(["a"])
        assert first.is_set()
        assert second.is_set()
    with feed.watch("a") as later:
        pass
    feed.notify(["a"])
    assert not later.is_set()  # its block had ended
    assert feed._watchers == {}
