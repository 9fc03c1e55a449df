"""Real image bytes for tests, made with Pillow."""

from __future__ import annotations

import io

from PIL import Image


def png_bytes(
    width: int = 64, height: int = 64, colour: tuple[int, int, int] = (200, 120, 90)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def webp_bytes(width: int = 64, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(buffer, format="WEBP")
    return buffer.getvalue()


def truncated_jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 64).convert("RGB").save(buffer, format="JPEG")
    data = buffer.getvalue()
    return data[: len(data) // 2]
