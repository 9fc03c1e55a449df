"""A fake internet under httpx: a DNS table, and routes from its addresses to a local server.

There is no network here, and the SSRF guard refuses 127.0.0.1, so tests that want public
looking https hosts (`https://img.recraft.test/...`) over real HTTP plug this in below httpx:
`resolve` is the guard's resolver, and `FakeInternet` itself is the httpcore network backend
under the client's pools. A connection to any address of the table reaches the local server
(a loopback one too: if the guard let one through, the server would see the download).
TLS is taken as done: the local server speaks plain HTTP, and `start_tls` is a no-op.
Only the network is faked; httpx, httpcore's pool and HTTP/1.1 parsing are the real ones.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore


class _PlainStream(httpcore.NetworkStream):
    """A real socket stream whose TLS handshake is assumed to have happened."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return self

    def get_extra_info(self, info: str) -> Any:
        return None if info == "ssl_object" else self._inner.get_extra_info(info)


class FakeInternet(httpcore.NetworkBackend):
    """Names resolve from `dns`; connections to their addresses reach 127.0.0.1:`port`."""

    def __init__(self, port: int, dns: dict[str, Sequence[str]]) -> None:
        self._port = port
        self.dns = {name: list(addresses) for name, addresses in dns.items()}
        self._real = httpcore.SyncBackend()
        self._lock = threading.Lock()
        self.lookups: list[str] = []
        self.connections: list[tuple[str, int]] = []
        # Refuse this many connections (to any host) before accepting again.
        self.refuse_connections = 0

    def resolve(self, host: str, port: int) -> list[str]:
        with self._lock:
            self.lookups.append(host)
        if host not in self.dns:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.dns[host])

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            try:  # a client without the guard connects by name
                address = self.resolve(host, port)[0]
            except OSError as error:
                raise httpcore.ConnectError(str(error)) from None
        with self._lock:
            self.connections.append((address, port))
            if self.refuse_connections > 0:
                self.refuse_connections -= 1
                raise httpcore.ConnectError("[Errno 111] Connection refused (fake)")
        if not any(address in addresses for addresses in self.dns.values()):
            raise httpcore.ConnectError(f"no route to {address} (fake)")
        stream = self._real.connect_tcp(
            "127.0.0.1", self._port, timeout=timeout, socket_options=socket_options
        )
        return _PlainStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("no unix sockets on the fake internet")

    def sleep(self, seconds: float) -> None:
        raise AssertionError("httpcore's own connect retries are not used")
