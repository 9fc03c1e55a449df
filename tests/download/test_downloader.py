"""The image download (download/downloader.py): redirects, each hop checked by the URL
guard, and refusals; and `RecraftClient.download`, which hands the work to it.

The network is scripted (`tests/download/scripted.py`): no test does real DNS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import API_KEY
from tests.download.scripted import (
    OTHER_PUBLIC,
    PNG,
    PUBLIC,
    FakeDNS,
    ScriptedNetwork,
    http_answer,
    image_answer,
    redirect,
)
from vignette.config import Settings, load_settings
from vignette.download.downloader import ImageDownloader
from vignette.download.guard import GuardedBackend, system_resolve
from vignette.errors import PortraitFailure
from vignette.records import PortraitErrorCode
from vignette.recraft.client import RecraftClient
from vignette.storage.staging import StagingFile

Downloads = ImageDownloader | RecraftClient


@pytest.fixture
def settings() -> Settings:
    """The defaults: no database is opened by these tests."""
    return load_settings(env={})


def make_client(
    settings: Settings,
    dns: FakeDNS,
    network: ScriptedNetwork,
    allow_insecure_urls: bool = False,
) -> ImageDownloader:
    return ImageDownloader(
        timeout_s=settings.recraft.timeout_s,
        max_file_bytes=settings.storage.max_file_bytes,
        allow_insecure_urls=allow_insecure_urls,
        resolve=dns,
        network_backend=network,
    )


def download(client: Downloads, url: str, tmp_path: Path) -> tuple[bytes, str]:
    path = tmp_path / "image.part"
    with path.open("wb") as file:
        content_type = client.download(url, StagingFile(path, file))
    return path.read_bytes(), content_type


def download_failure(client: Downloads, url: str, tmp_path: Path) -> PortraitFailure:
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


def test_a_key_in_an_image_url_is_scrubbed_from_the_failure(
    settings: Settings, tmp_path: Path
) -> None:
    client = ImageDownloader(
        timeout_s=settings.recraft.timeout_s,
        max_file_bytes=settings.storage.max_file_bytes,
        key=SecretStr(API_KEY),
    )

    failure = download_failure(client, f"http://img.recraft.ai/abc?token={API_KEY}", tmp_path)

    assert failure.code is PortraitErrorCode.INSECURE_URL
    assert API_KEY not in str(failure)
    assert "token=[redacted]" in str(failure)


# RecraftClient.download: the worker's one port, through its own guarded downloader ------------


def test_recraft_client_downloads_through_the_guard_with_its_resolver_and_backend(
    settings: Settings, tmp_path: Path
) -> None:
    network = ScriptedNetwork(
        {PUBLIC: [redirect("https://cdn.recraft.ai/real")], OTHER_PUBLIC: [image_answer()]}
    )
    dns = FakeDNS(DNS)
    client = RecraftClient(
        settings.recraft,
        SecretStr(API_KEY),
        max_file_bytes=settings.storage.max_file_bytes,
        resolve=dns,
        network_backend=network,
    )
    try:
        assert download(client, "https://img.recraft.ai/abc", tmp_path) == (PNG, "image/png")
        failure = download_failure(client, "https://evil.example/abc", tmp_path)
    finally:
        client.close()

    assert failure.code is PortraitErrorCode.INSECURE_URL
    assert dns.lookups == ["img.recraft.ai", "cdn.recraft.ai", "evil.example"]
    assert network.connections == [(PUBLIC, 443), (OTHER_PUBLIC, 443)]


def test_the_guard_is_on_by_default_and_uses_the_system_resolver(settings: Settings) -> None:
    # White-box on purpose: without a network, the default resolver cannot be exercised.
    client = RecraftClient(settings.recraft, SecretStr(API_KEY), max_file_bytes=1000)
    try:
        images: Any = client._downloader._http
        backend = images._transport._pool._network_backend
        assert isinstance(backend, GuardedBackend)
        assert backend._resolve is system_resolve
    finally:
        client.close()
