"""Checking that downloaded bytes are a whole, real raster image."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

# The formats Recraft answers with for raster models, and their content types.
FORMATS = {"PNG": "image/png", "WEBP": "image/webp", "JPEG": "image/jpeg"}
# A portrait is at most a few megapixels; refusing more stops decompression bombs early.
MAX_PIXELS = 64_000_000


class NotAnImage(ValueError):
    """The bytes are not a complete image of an accepted format."""


def identify_image(path: Path) -> str:
    """Return the content type of the image at `path`, or raise `NotAnImage`.

    `Image.open` reads only the header, so the image is opened, its size checked, then
    opened again and checked whole. A PNG carries a CRC on every chunk and must end with
    IEND: `verify()` reads every chunk and checks both, which catches a truncated or damaged
    download without decoding the pixels (a 40 MB PNG would take about 50 MB to decode).
    JPEG and WEBP have no such checksums, and `verify()` misses a truncated JPEG, so they
    are decoded in full.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=list(FORMATS)) as image:
                image_format = image.format or ""
                width, height = image.size
            if width * height > MAX_PIXELS:
                raise NotAnImage(f"{width}x{height} pixels is more than {MAX_PIXELS:,}")
            with Image.open(path, formats=[image_format]) as image:
                if image_format == "PNG":
                    image.verify()
                else:
                    image.load()
    except NotAnImage:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise NotAnImage(f"not a readable PNG, WEBP or JPEG image ({error})") from None
    except Image.DecompressionBombWarning as warning:
        raise NotAnImage(str(warning)) from None
    return FORMATS[image_format]
