"""S3Store on a real bucket: a large file goes in parts and appears whole, identical
content is written once either way, unfinished uploads are aborted by the sweep, and a
refusal (not tried again) is told apart from an outage (tried again)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from tests.seaweed import Seaweed
from vignette.config.settings import S3Settings
from vignette.errors import StorageUnavailable
from vignette.records import StagedFile
from vignette.storage import s3
from vignette.storage.s3 import S3Store

pytestmark = pytest.mark.sqlite_only
PART = 5 * 1024 * 1024  # S3's smallest part


@pytest.fixture
def store(s3_overrides: dict[str, object]) -> S3Store:
    return S3Store(
        S3Settings(
            endpoint_url=str(s3_overrides["storage__s3__endpoint_url"]),
            bucket=str(s3_overrides["storage__s3__bucket"]),
            prefix="p",
            region="us-east-1",
        )
    )


def staged(tmp_path: Path, data: bytes, name: str = "x.part") -> StagedFile:
    path = tmp_path / name
    path.write_bytes(data)
    return StagedFile(str(path), hashlib.sha256(data).hexdigest(), len(data), "image/png")


def test_a_file_above_the_threshold_goes_in_parts_and_appears_whole_once(
    store: S3Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seaweed: Seaweed
) -> None:
    monkeypatch.setattr(s3, "MULTIPART_BYTES", PART)
    large = S3Store(S3Settings(bucket=store.bucket, prefix="p"), client=store._client)
    data = os.urandom(PART + 1024 * 1024)
    file = staged(tmp_path, data)

    assert large.put(file) is True
    assert large.put(file) is False  # a HEAD found it

    head = seaweed.client().head_object(Bucket=store.bucket, Key=f"p/{file.sha256}")
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "image/png"
    assert head["Metadata"] == {"sha256": file.sha256}
    assert "-" in head["ETag"]  # a multipart upload's ETag names its parts
    with large.open(file.sha256) as body:
        assert hashlib.sha256(body.read()).hexdigest() == file.sha256


def test_a_small_file_is_one_conditional_put(store: S3Store, tmp_path: Path) -> None:
    file = staged(tmp_path, b"\x89PNG small")

    assert store.put(file) is True
    assert store.put(file) is False  # If-None-Match: * refused the second write
    assert store.exists(file.sha256)
    assert set(store.older_than(time.time() + 60)) == {file.sha256}
    store.delete(file.sha256)
    assert not store.exists(file.sha256)
    with pytest.raises(FileNotFoundError):
        store.open(file.sha256)


def test_the_sweep_aborts_unfinished_uploads_under_the_prefix(
    store: S3Store, seaweed: Seaweed
) -> None:
    client = seaweed.client()
    started = client.create_multipart_upload(Bucket=store.bucket, Key="p/" + "a" * 64)
    elsewhere = client.create_multipart_upload(Bucket=store.bucket, Key="other/" + "b" * 64)

    assert store.abort_stale_uploads(time.time() - 3600) == 0  # too recent
    assert store.abort_stale_uploads(time.time() + 60) == 1

    left = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    assert [upload["UploadId"] for upload in left] == [elsewhere["UploadId"]]
    assert started["UploadId"] != elsewhere["UploadId"]


def test_a_bad_signature_is_a_refusal_and_a_closed_port_an_outage(
    store: S3Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = staged(tmp_path, b"bytes")
    closed = S3Store(
        S3Settings(endpoint_url="http://127.0.0.1:9", bucket=store.bucket, region="us-east-1")
    )
    secret = "not-the-secret-" + "x" * 25
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    endpoint = store._client.meta.endpoint_url
    refusing = S3Store(S3Settings(endpoint_url=endpoint, bucket=store.bucket, region="us-east-1"))

    with pytest.raises(StorageUnavailable) as refused:
        refusing.put(file)
    with pytest.raises(StorageUnavailable) as away:
        closed.put(file)

    assert refused.value.passing is False
    assert "SignatureDoesNotMatch" in str(refused.value)
    assert secret not in str(refused.value)
    assert away.value.passing is True
    assert "EndpointConnectionError" in str(away.value)
