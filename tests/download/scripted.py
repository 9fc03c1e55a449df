"""A scripted network for the guard's and the download's tests: public-looking addresses,
a resolver from a table, and a network backend whose connections get scripted answers.

Only the sockets are fake: httpx and httpcore's pool and HTTP/1.1 parsing are the real ones,
and no test does real DNS.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence

import httpcore

from tests.fakes.images import png_bytes

PUBLIC = "93.184.216.34"
OTHER_PUBLIC = "104.16.132.229"
PNG = png_bytes()


def http_answer(
    status: int = 200, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    reason = {200: "OK", 301: "Moved", 302: "Found", 303: "See Other", 307: "Temporary"}
    lines = [f"HTTP/1.1 {status} {reason.get(status, 'Status')}"]
    all_headers = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def image_answer() -> bytes:
    return http_answer(200, {"Content-Type": "image/png"}, PNG)


def redirect(location: str, status: int = 302) -> bytes:
    return http_answer(status, {"Location": location})


class ScriptedNetwork(httpcore.NetworkBackend):
    """Each connection to an address gets that address's next scripted answer (TLS is a
    no-op on httpcore's MockStream); every connection is recorded."""

    def __init__(self, answers: dict[str, list[bytes]]) -> None:
        self.answers = answers
        self.connections: list[tuple[str, int]] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self.connections.append((host, port))
        queue = self.answers.get(host)
        if not queue:
            raise httpcore.ConnectError(f"nothing listens on {host}")
        return httpcore.MockStream([queue.pop(0)])


class FakeDNS:
    """A resolver from a table; a list of tables answers each lookup with the next one."""

    def __init__(self, *tables: Mapping[str, Sequence[str]]) -> None:
        self.tables = list(tables)
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        table = self.tables.pop(0) if len(self.tables) > 1 else self.tables[0]
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(table[host])
