"""`GET /api/files/{storage_id}`: a stored portrait, streamed, with its ETag (its sha256),
a 304 for a client that already has it, and one byte range when asked (206); with
`storage.s3.redirect`, a redirect to a short-lived presigned URL of the object instead of
the bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from loguru import logger
from starlette.background import BackgroundTask

from vignette.api.dependencies import System
from vignette.api.openapi import NOT_FOUND
from vignette.api.ranges import ByteRange, NotSatisfiable, wanted_range
from vignette.errors import StorageUnavailable, StoredFileNotFound, describe

CACHE_FOREVER = "public, max-age=31536000, immutable"
CHUNK_BYTES = 64 * 1024
# A presigned link expires within minutes: no cache may keep the redirect to it.
PRESIGNED_HEADERS = {"Cache-Control": "no-store"}

router = APIRouter(tags=["files"])


@router.get(
    "/api/files/{storage_id}",
    summary="A stored portrait",
    response_class=Response,
    responses={
        200: {
            "description": "The image, with its Content-Type and ETag (its sha256)",
            "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        206: {"description": "The byte range the Range header asked for"},
        304: {"description": "Not modified: If-None-Match names this file's ETag"},
        307: {"description": "With storage.s3.redirect: a short-lived presigned URL"},
        416: {"description": "The range starts past the file's end"},
        503: {"description": "The file store (the bucket) did not answer"},
        **NOT_FOUND,
    },
)
def get_file(
    request: Request,
    system: System,
    storage_id: str,
    if_none_match: Annotated[str | None, Header()] = None,
    byte_range: Annotated[
        str | None, Header(alias="range", description="one range: `bytes=start-end`")
    ] = None,
    if_range: Annotated[str | None, Header(description="the ETag the range is valid for")] = None,
) -> Response:
    info = system.file_info(storage_id)
    if info is None:
        raise StoredFileNotFound(storage_id)
    headers = {"ETag": f'"{info.sha256}"', "Cache-Control": CACHE_FOREVER}
    if _etag_matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if system.settings.storage.s3.redirect:
        link = system.file_link(info)
        if link is not None:  # the s3 backend: the client fetches the bytes from the bucket
            return RedirectResponse(link, status_code=307, headers=PRESIGNED_HEADERS)
    headers["Accept-Ranges"] = "bytes"
    try:
        part = wanted_range(byte_range, if_range, headers["ETag"], info.size)
    except NotSatisfiable:
        headers["Content-Range"] = f"bytes */{info.size}"
        return Response(status_code=416, headers=headers)
    headers["Content-Length"] = str(info.size if part is None else part.length)
    headers["X-Content-Type-Options"] = "nosniff"
    status = 200
    if part is not None:
        status, headers["Content-Range"] = 206, part.content_range
    if getattr(request.state, "head", False):  # HEAD: the headers only, no file opened
        return Response(status_code=status, headers=headers, media_type=info.content_type)
    try:
        file, content_type = system.open_file(storage_id)
    except StorageUnavailable as error:
        logger.bind(storage_id=storage_id, step="serve", cause=describe(error)).warning(
            "could not read a stored file: {}", describe(error)
        )
        raise HTTPException(503, "the file store did not answer; try again shortly") from None
    return StreamingResponse(
        _chunks(file, part),
        status_code=status,
        media_type=content_type,
        headers=headers,
        background=BackgroundTask(file.close),
    )


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def _chunks(file: BinaryIO, part: ByteRange | None = None) -> Iterator[bytes]:
    with file:
        if part is None:
            while chunk := file.read(CHUNK_BYTES):
                yield chunk
            return
        _skip(file, part.start)
        left = part.length
        while left > 0 and (chunk := file.read(min(CHUNK_BYTES, left))):
            left -= len(chunk)
            yield chunk


def _skip(file: BinaryIO, count: int) -> None:
    """Move `count` bytes on: a seek when the file can, else reading them."""
    if file.seekable():
        file.seek(count)
        return
    while count > 0 and (chunk := file.read(min(CHUNK_BYTES, count))):
        count -= len(chunk)
