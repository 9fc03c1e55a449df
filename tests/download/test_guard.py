"""The SSRF guard (actors/url_guard.py) and the image download's redirect handling.

Address checks are plain functions. The guard's connection layer is tested through a real
httpx client and httpcore pool over a scripted network backend (`ScriptedNetwork`, below):
only the sockets are fake, and names resolve through an injected resolver, so no test does
real DNS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import API_KEY
from tests.fakes.images import png_bytes
from vignette.config import Settings, load_settings
from vignette.download.guard import (
    GuardedBackend,
    PooledTransport,
    UnsafeURL,
    check_url,
    is_local_host,
    literal_address,
    refusal,
    system_resolve,
)
from vignette.errors import PortraitFailure
from vignette.records import PortraitErrorCode
from vignette.recraft.client import RecraftClient, shared_ssl_context
from vignette.storage.staging import StagingFile

PUBLIC = "93.184.216.34"
OTHER_PUBLIC = "104.16.132.229"
PNG = png_bytes()

# Address checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        pytest.param("127.0.0.1", "loopback", id="v4-loopback"),
        pytest.param("127.255.0.9", "loopback", id="v4-loopback-range"),
        pytest.param("10.1.2.3", "private", id="v4-private-10"),
        pytest.param("172.16.0.1", "private", id="v4-private-172"),
        pytest.param("192.168.1.1", "private", id="v4-private-192"),
        pytest.param("169.254.169.254", "link-local", id="v4-metadata"),
        pytest.param("0.0.0.0", "unspecified", id="v4-unspecified"),
        pytest.param("224.0.0.1", "multicast", id="v4-multicast"),
        pytest.param("239.255.255.250", "multicast", id="v4-multicast-ssdp"),
        pytest.param("240.0.0.1", "reserved", id="v4-reserved"),
        pytest.param("100.64.0.1", "not publicly routable", id="v4-carrier-nat"),
        pytest.param("::1", "loopback", id="v6-loopback"),
        pytest.param("::", "unspecified", id="v6-unspecified"),
        pytest.param("fe80::1", "link-local", id="v6-link-local"),
        pytest.param("fd00::1", "private", id="v6-unique-local"),
        pytest.param("fec0::1", "site-local", id="v6-site-local"),
        pytest.param("ff02::1", "multicast", id="v6-multicast"),
        pytest.param("::ffff:127.0.0.1", "loopback", id="v4-mapped-loopback"),
        pytest.param("::ffff:169.254.169.254", "link-local", id="v4-mapped-metadata"),
        pytest.param("::ffff:10.0.0.1", "private", id="v4-mapped-private"),
        pytest.param("2002:7f00:1::", "loopback", id="6to4-loopback"),
        pytest.param("64:ff9b::a9fe:a9fe", "link-local", id="nat64-metadata"),
        pytest.param(PUBLIC, None, id="v4-public"),
        pytest.param("8.8.8.8", None, id="v4-public-dns"),
        pytest.param("2606:4700:4700::1111", None, id="v6-public"),
        pytest.param("::ffff:8.8.8.8", None, id="v4-mapped-public"),
    ],
)
def test_refusal_names_why_an_address_is_not_public(address: str, reason: str | None) -> None:
    found = refusal(ipaddress.ip_address(address))
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(reason)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        pytest.param("2130706433", "127.0.0.1", id="decimal"),
        pytest.param("127.1", "127.0.0.1", id="short"),
        pytest.param("0x7f.0.0.1", "127.0.0.1", id="hex"),
        pytest.param("0177.0.0.1", "127.0.0.1", id="octal"),
        pytest.param("[::1]", "::1", id="bracketed-v6"),
        pytest.param("10.0.0.1.", "10.0.0.1", id="trailing-dot"),
        pytest.param("img.recraft.ai", None, id="name"),
    ],
)
def test_literal_addresses_are_read_as_resolvers_read_them(host: str, address: str | None) -> None:
    found = literal_address(host)
    assert (None if found is None else str(found)) == address


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("api.localhost", True),
        ("2130706433", True),
        ("::ffff:7f00:1", True),
        ("img.recraft.ai", False),
        (PUBLIC, False),
    ],
)
def test_is_local_host_checks_names_and_literals_without_resolving(host: str, local: bool) -> None:
    assert is_local_host(host) is local


@pytest.mark.parametrize(
    ("url", "allow_insecure", "outcome"),
    [
        pytest.param("https://img.recraft.ai/abc", False, None, id="public-https"),
        pytest.param("http://img.recraft.ai/abc", False, "not https", id="http"),
        pytest.param("https://localhost/abc", False, "loopback, private", id="localhost"),
        pytest.param("https://[::ffff:10.0.0.1]/abc", False, "loopback, private", id="mapped"),
        pytest.param("http://127.0.0.1:8000/abc", True, None, id="insecure-allowed"),
        pytest.param("ftp://img.recraft.ai/abc", False, "invalid", id="ftp"),
        pytest.param("ftp://img.recraft.ai/abc", True, "invalid", id="ftp-even-when-allowed"),
    ],
)
def test_check_url_refuses_by_scheme_and_literal_host(
    url: str, allow_insecure: bool, outcome: str | None
) -> None:
    if outcome is None:
        check_url(httpx.URL(url), allow_insecure=allow_insecure)
        return
    kind: type[Exception] = ValueError if outcome == "invalid" else UnsafeURL
    with pytest.raises(kind, match=outcome):
        check_url(httpx.URL(url), allow_insecure=allow_insecure)


# A scripted network --------------------------------------------------------------------------


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


@pytest.fixture
def settings() -> Settings:
    """The defaults: no database is opened by these tests."""
    return load_settings(env={})


def guarded_client(dns: FakeDNS, network: ScriptedNetwork) -> httpx.Client:
    transport = PooledTransport(shared_ssl_context(), GuardedBackend(dns, network))
    return httpx.Client(transport=transport)


# The guard's connection layer ----------------------------------------------------------------


def test_the_guard_connects_to_the_address_it_checked_not_to_the_name() -> None:
    dns = FakeDNS({"img.recraft.ai": [PUBLIC]})
    network = ScriptedNetwork({PUBLIC: [image_answer()]})

    with guarded_client(dns, network) as client:
        response = client.get("https://img.recraft.ai/abc")

    assert response.content == PNG
    assert dns.lookups == ["img.recraft.ai"]
    assert network.connections == [(PUBLIC, 443)]


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(["127.0.0.1"], id="loopback"),
        pytest.param(["169.254.169.254"], id="metadata"),
        pytest.param([PUBLIC, "10.0.0.7"], id="one-private-answer-among-public-ones"),
        pytest.param(["::ffff:127.0.0.1"], id="v4-mapped"),
        pytest.param(["fd12:3456::1"], id="v6-unique-local"),
    ],
)
def test_a_name_with_any_non_public_address_is_refused_before_connecting(
    answers: list[str],
) -> None:
    dns = FakeDNS({"evil.example": answers})
    network = ScriptedNetwork({a: [image_answer()] for a in answers})

    with guarded_client(dns, network) as client, pytest.raises(UnsafeURL, match="resolves to"):
        client.get("https://evil.example/abc")

    assert network.connections == []


def test_dns_rebinding_cannot_pass_each_connection_is_checked_on_the_address_it_uses() -> None:
    # The name answers a public address first, then loopback: the first connection goes to
    # the public address it checked; the next connection is checked again and refused.
    dns = FakeDNS({"rebind.example": [PUBLIC]}, {"rebind.example": ["127.0.0.1"]})
    network = ScriptedNetwork({PUBLIC: [image_answer()], "127.0.0.1": [image_answer()]})

    with guarded_client(dns, network) as client:
        assert client.get("https://rebind.example/a").status_code == 200
        with pytest.raises(UnsafeURL, match="loopback"):
            client.get("https://rebind.example/b")  # a new connection (the first was closed)

    assert network.connections == [(PUBLIC, 443)]
    assert dns.lookups == ["rebind.example", "rebind.example"]


def test_a_literal_address_skips_the_resolver_and_is_checked_itself() -> None:
    dns = FakeDNS({})
    network = ScriptedNetwork({PUBLIC: [image_answer()]})

    with guarded_client(dns, network) as client:
        assert client.get(f"https://{PUBLIC}/abc").status_code == 200
        with pytest.raises(UnsafeURL, match="private"):
            client.get("https://10.9.8.7/abc")

    assert dns.lookups == []
    assert network.connections == [(PUBLIC, 443)]


def test_a_name_that_does_not_resolve_is_a_connection_error() -> None:
    with (
        guarded_client(FakeDNS({}), ScriptedNetwork({})) as client,
        pytest.raises(httpx.ConnectError, match=r"could not resolve nowhere\.example"),
    ):
        client.get("https://nowhere.example/abc")


def test_the_next_checked_address_is_tried_when_one_does_not_connect() -> None:
    dns = FakeDNS({"img.recraft.ai": [OTHER_PUBLIC, PUBLIC]})
    network = ScriptedNetwork({PUBLIC: [image_answer()]})  # nothing on OTHER_PUBLIC

    with guarded_client(dns, network) as client:
        assert client.get("https://img.recraft.ai/abc").content == PNG

    assert network.connections == [(OTHER_PUBLIC, 443), (PUBLIC, 443)]


# RecraftClient.download: redirects and refusals ----------------------------------------------


def make_client(
    settings: Settings,
    dns: FakeDNS,
    network: ScriptedNetwork,
    allow_insecure_urls: bool = False,
) -> RecraftClient:
    return RecraftClient(
        settings.recraft,
        SecretStr(API_KEY),
        max_file_bytes=settings.storage.max_file_bytes,
        allow_insecure_urls=allow_insecure_urls,
        resolve=dns,
        network_backend=network,
    )


def download(client: RecraftClient, url: str, tmp_path: Path) -> tuple[bytes, str]:
    path = tmp_path / "image.part"
    with path.open("wb") as file:
        content_type = client.download(url, StagingFile(path, file))
    return path.read_bytes(), content_type


def download_failure(client: RecraftClient, url: str, tmp_path: Path) -> PortraitFailure:
    with pytest.raises(PortraitFailure) as caught:
        download(client, url, tmp_path)
    return caught.value


DNS = {"img.recraft.ai": [PUBLIC], "cdn.recraft.ai": [OTHER_PUBLIC], "evil.example": ["10.0.0.5"]}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_download_follows_a_redirect_to_another_public_host(
    status: int, settings: Settings, tmp_path: Path
) -> None:
    network = ScriptedNetwork(
        {PUBLIC: [redirect("https://cdn.recraft.ai/real", status)], OTHER_PUBLIC: [image_answer()]}
    )
    client = make_client(settings, FakeDNS(DNS), network)

    assert download(client, "https://img.recraft.ai/abc", tmp_path) == (PNG, "image/png")
    assert network.connections == [(PUBLIC, 443), (OTHER_PUBLIC, 443)]


def test_download_follows_a_relative_redirect_on_the_same_host(
    settings: Settings, tmp_path: Path
) -> None:
    network = ScriptedNetwork({PUBLIC: [redirect("/elsewhere?sig=1"), image_answer()]})
    client = make_client(settings, FakeDNS(DNS), network)

    assert download(client, "https://img.recraft.ai/abc", tmp_path)[0] == PNG


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        pytest.param(
            "https://evil.example/x", "resolves to 10.0.0.5, which is private", id="private-name"
        ),
        pytest.param("http://cdn.recraft.ai/x", "not https", id="to-http"),
        pytest.param("https://169.254.169.254/latest/meta-data/", "link-local", id="metadata"),
        pytest.param("https://localhost:8080/admin", "loopback", id="localhost"),
        pytest.param("https://[::ffff:127.0.0.1]/x", "loopback", id="v4-mapped"),
    ],
)
def test_a_redirect_to_an_unsafe_place_is_refused_and_never_requested(
    location: str, reason: str, settings: Settings, tmp_path: Path
) -> None:
    network = ScriptedNetwork({PUBLIC: [redirect(location)], "10.0.0.5": [image_answer()]})
    client = make_client(settings, FakeDNS(DNS), network)

    failure = download_failure(client, "https://img.recraft.ai/abc", tmp_path)

    assert failure.code is PortraitErrorCode.INSECURE_URL
    assert f"redirect 1 to {location}" in str(failure)
    assert reason in str(failure)
    assert "(url: https://img.recraft.ai/abc)" in str(failure)
    assert network.connections == [(PUBLIC, 443)]


def test_at_most_three_redirects_are_followed(settings: Settings, tmp_path: Path) -> None:
    hops = [redirect(f"/hop{n}") for n in range(1, 5)]
    network = ScriptedNetwork({PUBLIC: [*hops, image_answer()]})
    client = make_client(settings, FakeDNS(DNS), network)

    failure = download_failure(client, "https://img.recraft.ai/abc", tmp_path)

    assert failure.code is PortraitErrorCode.DOWNLOAD_ERROR
    assert "more than 3 redirects (the last to https://img.recraft.ai/hop4)" in str(failure)
    assert len(network.connections) == 4  # the first URL and three redirects


def test_three_redirects_are_still_followed(settings: Settings, tmp_path: Path) -> None:
    hops = [redirect(f"/hop{n}") for n in range(1, 4)]
    network = ScriptedNetwork({PUBLIC: [*hops, image_answer()]})
    client = make_client(settings, FakeDNS(DNS), network)

    assert download(client, "https://img.recraft.ai/abc", tmp_path)[0] == PNG


def test_a_redirect_without_a_location_is_a_download_error(
    settings: Settings, tmp_path: Path
) -> None:
    network = ScriptedNetwork({PUBLIC: [http_answer(302)]})
    client = make_client(settings, FakeDNS(DNS), network)

    failure = download_failure(client, "https://img.recraft.ai/abc", tmp_path)

    assert failure.code is PortraitErrorCode.DOWNLOAD_ERROR
    assert "answered 302 without a Location" in str(failure)


def test_a_name_resolving_to_a_private_address_is_refused_as_insecure_url(
    settings: Settings, tmp_path: Path
) -> None:
    network = ScriptedNetwork({"10.0.0.5": [image_answer()]})
    client = make_client(settings, FakeDNS(DNS), network)

    failure = download_failure(client, "https://evil.example/abc", tmp_path)

    assert failure.code is PortraitErrorCode.INSECURE_URL
    assert "evil.example resolves to 10.0.0.5, which is private" in str(failure)
    assert network.connections == []
    assert (tmp_path / "image.part").read_bytes() == b""


def test_allow_insecure_urls_lifts_the_guard_for_local_testing(
    settings: Settings, tmp_path: Path
) -> None:
    network = ScriptedNetwork({"127.0.0.1": [image_answer()]})
    dns = FakeDNS({"dev.localtest": ["127.0.0.1"]})
    client = make_client(settings, dns, network, allow_insecure_urls=True)

    assert download(client, "http://127.0.0.1:8080/abc", tmp_path)[0] == PNG
    assert dns.lookups == []  # no guard, no resolver


def test_the_guard_is_on_by_default_and_uses_the_system_resolver(settings: Settings) -> None:
    # White-box on purpose: without a network, the default resolver cannot be exercised.
    client = RecraftClient(settings.recraft, SecretStr(API_KEY), max_file_bytes=1000)
    try:
        images: Any = client._images
        backend = images._transport._pool._network_backend
        assert isinstance(backend, GuardedBackend)
        assert backend._resolve is system_resolve
    finally:
        client.close()
