"""The URL guard (download/guard.py): address checks, and its connection layer.

Address checks are plain functions. The guard's connection layer is tested through a real
httpx client and httpcore pool over a scripted network backend (`tests/download/scripted.py`):
only the sockets are fake, and names resolve through an injected resolver, so no test does
real DNS.
"""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from tests.download.scripted import (
    OTHER_PUBLIC,
    PNG,
    PUBLIC,
    FakeDNS,
    ScriptedNetwork,
    image_answer,
)
from vignette.download.guard import (
    GuardedBackend,
    UnsafeURL,
    check_url,
    is_local_host,
    literal_address,
    refusal,
)
from vignette.net.tls import shared_ssl_context
from vignette.net.transport import PooledTransport

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
