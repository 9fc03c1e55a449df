"""The `s3` backend: objects `<prefix><sha256>` in an S3-compatible bucket, through boto3.

Credentials come from boto3's own chain (the standard AWS environment variables, a profile,
an instance role), never from Vignette's settings, and never reach a log or an error: a
failure is described by its class and the service's error code and message only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from vignette.config.settings import S3Settings
from vignette.errors import StorageUnavailable
from vignette.records import StagedFile
from vignette.storage.store import PRESIGNED_EXPIRY_S

# A file up to this size goes in one conditional PUT; upload_file sends a larger one in
# parts of this size. A portrait is a few MiB at most, so most go in one PUT.
MULTIPART_BYTES = 8 * 1024 * 1024
NOT_THERE = {"404", "NoSuchKey", "NotFound"}
# Answers below 500 that pass with time.
PASSING_CODES = {"SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "Throttling"}


def _failed(what: str, error: Exception) -> StorageUnavailable:
    """A boto3 failure, as the bucket's error code and message or the connection's
    failure: never a credential (botocore's messages carry none)."""
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        code = str(detail.get("Code", "?"))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        passing = status >= 500 or status in (408, 429) or code in PASSING_CODES
        message = f"{what}: the bucket answered {code}: {detail.get('Message') or code}"
        return StorageUnavailable(message, passing=passing)
    return StorageUnavailable(f"{what}: {type(error).__name__}: {error}")


def _not_there(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in NOT_THERE


class S3Store:
    """A bucket of content-addressed objects, each with its Content-Type and, as metadata,
    its sha256. An object appears whole or not at all: a single PUT is atomic, and a
    multipart upload is invisible until it is completed."""

    name = "s3"

    def __init__(self, settings: S3Settings, client: Any | None = None) -> None:
        self.bucket = settings.bucket
        prefix = settings.prefix
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._client = client if client is not None else _client(settings)
        self._transfer = TransferConfig(
            multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES
        )

    def key(self, sha256: str) -> str:
        return self.prefix + sha256

    def put(self, staged: StagedFile) -> bool:
        """One conditional PUT (`If-None-Match: *`: identical content is written once) up
        to `MULTIPART_BYTES`; above, a HEAD, then a multipart upload from the file."""
        key = self.key(staged.sha256)
        extra = {"ContentType": staged.content_type, "Metadata": {"sha256": staged.sha256}}
        what = f"could not upload {staged.sha256}"
        try:
            if staged.size <= MULTIPART_BYTES:
                with open(staged.path, "rb") as body:
                    self._client.put_object(
                        Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*", **extra
                    )
                return True
            if self.exists(staged.sha256):
                return False
            self._client.upload_file(
                staged.path, self.bucket, key, ExtraArgs=extra, Config=self._transfer
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return False  # stored already
            raise _failed(what, error) from None
        except S3UploadFailedError as error:
            cause = error.__context__
            raise _failed(what, cause if isinstance(cause, Exception) else error) from None
        except BotoCoreError as error:
            raise _failed(what, error) from None
        return True

    def exists(self, sha256: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as error:
            if _not_there(error):
                return False
            raise _failed(f"could not look up {sha256}", error) from None
        except BotoCoreError as error:
            raise _failed(f"could not look up {sha256}", error) from None
        return True

    def head(self, sha256: str) -> dict[str, Any] | None:
        """The object's headers (ContentLength, ContentType, Metadata), or None."""
        try:
            return cast(
                "dict[str, Any]", self._client.head_object(Bucket=self.bucket, Key=self.key(sha256))
            )
        except ClientError as error:
            if _not_there(error):
                return None
            raise _failed(f"could not look up {sha256}", error) from None
        except BotoCoreError as error:
            raise _failed(f"could not look up {sha256}", error) from None

    def open(self, sha256: str) -> BinaryIO:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as error:
            if _not_there(error):
                raise FileNotFoundError(self.key(sha256)) from None
            raise _failed(f"could not read {sha256}", error) from None
        except BotoCoreError as error:
            raise _failed(f"could not read {sha256}", error) from None
        return cast("BinaryIO", answer["Body"])

    def delete(self, sha256: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        except (BotoCoreError, ClientError) as error:
            raise _failed(f"could not delete {sha256}", error) from None

    def older_than(self, cutoff: float) -> Iterator[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    name = str(item["Key"])[len(self.prefix) :]
                    if _is_sha256(name) and item["LastModified"].timestamp() < cutoff:
                        yield name
        except (BotoCoreError, ClientError) as error:
            raise _failed("could not list the bucket", error) from None

    def abort_stale_uploads(self, cutoff: float) -> int:
        """Abort multipart uploads under the prefix begun before `cutoff` (a process killed
        mid-upload leaves its parts, invisible but kept); return how many."""
        aborted = 0
        try:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"].timestamp() < cutoff:
                        self._client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        except (BotoCoreError, ClientError) as error:
            raise _failed("could not list uploads", error) from None
        return aborted

    def link(self, sha256: str, content_type: str) -> str | None:
        return cast(
            str,
            self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self.key(sha256)},
                ExpiresIn=PRESIGNED_EXPIRY_S,
            ),
        )


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _client(settings: S3Settings) -> Any:
    """A thread-safe S3 client: path-style addressing and SigV4 (what S3-compatible servers
    take), short connect and read timeouts, boto3's standard retries, and checksums only
    where the API requires them (not every S3-compatible server takes the newer ones)."""
    config = Config(
        s3={"addressing_style": "path"} if settings.endpoint_url else {},
        signature_version="s3v4",
        connect_timeout=3,
        read_timeout=20,
        retries={"mode": "standard", "max_attempts": 3},
        max_pool_connections=32,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url or None,
        region_name=settings.region or None,
        config=config,
    )


def sha256_of(file: BinaryIO, chunk_bytes: int = 1024 * 1024) -> tuple[str, int]:
    """The sha256 and size of what `file` holds from where it is to its end."""
    digest = hashlib.sha256()
    size = 0
    while chunk := file.read(chunk_bytes):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
