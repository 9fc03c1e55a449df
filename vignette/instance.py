"""The id of a running Vignette instance: what its claims and its heartbeat row carry."""

from __future__ import annotations

import os
import secrets
import socket


def new_instance_id() -> str:
    """`host:pid:random`: unique per started system, readable in the database."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
