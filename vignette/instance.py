"""Which running Vignette instance holds a claim, and whether it is still alive."""

from __future__ import annotations

import os
import secrets
import socket


def new_instance_id() -> str:
    """`host:pid:random`: unique per started system, readable in the database."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def owner_is_dead(owner: str) -> bool:
    """True only when `owner` ran on this host in a process that no longer exists.

    Instances on other hosts, or in processes that are alive, are left to their leases. A
    recycled pid makes a dead instance look alive, which only delays recovery until its
    lease runs out.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False
