"""The image check: whole, real images pass; truncated or damaged bytes do not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes.images import truncated_jpeg_bytes, webp_bytes
from vignette.download.images import NotAnImage, identify_image


def noise_png() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((200, 200), 60).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def flipped(data: bytes, at: int) -> bytes:
    damaged = bytearray(data)
    damaged[at] ^= 0xFF
    return bytes(damaged)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param(noise_png(), "image/png", id="png"),
        pytest.param(webp_bytes(), "image/webp", id="webp"),
    ],
)
def test_a_whole_image_is_identified_by_its_bytes(
    tmp_path: Path, data: bytes, content_type: str
) -> None:
    path = tmp_path / "image"
    path.write_bytes(data)

    assert identify_image(path) == content_type


PNG = noise_png()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(PNG[: len(PNG) // 2], id="png-cut-in-half"),
        pytest.param(PNG[:-12], id="png-without-iend"),
        pytest.param(flipped(PNG, len(PNG) // 2), id="png-with-a-damaged-byte"),
        pytest.param(truncated_jpeg_bytes(), id="truncated-jpeg"),
        pytest.param(b"<html>not an image</html>", id="html"),
    ],
)
def test_truncated_or_damaged_bytes_are_not_an_image(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "image"
    path.write_bytes(data)

    with pytest.raises(NotAnImage):
        identify_image(path)
