"""Recraft's documented rules for the `[recraft]` settings, checked when settings load.

From recraft.ai/docs/api-reference/appendix and .../styles: styles exist on recraftv2/v3
only, each model family has a fixed list of sizes, and prompts are limited to 1,000
characters on v2/v3 and 10,000 on v4.
"""

from __future__ import annotations

from typing import Literal

from vignette.config.loading import ConfigError

RecraftModel = Literal["recraftv2", "recraftv3", "recraftv4", "recraftv4_1"]
STYLED_MODELS = ("recraftv2", "recraftv3")
# The style default.toml ships. It is not sent to recraftv4 models, so switching only the
# model works; any other style there would silently do nothing, so it is refused.
DEFAULT_STYLE = "realistic_image"
V3_SIZES = (
    "1024x1024", "1365x1024", "1024x1365", "1536x1024", "1024x1536", "1820x1024", "1024x1820",
    "1024x2048", "2048x1024", "1434x1024", "1024x1434", "1024x1280", "1280x1024", "1024x1707",
    "1707x1024",
)  # fmt: skip
V4_SIZES = (
    "1024x1024", "1536x768", "768x1536", "1280x832", "832x1280", "1216x896", "896x1216",
    "1152x896", "896x1152", "832x1344", "1280x896", "896x1280", "1344x768", "768x1344",
)  # fmt: skip


def prompt_limit(model: str) -> int:
    """Recraft's prompt length limit, in characters, for `model`."""
    return 10_000 if model.startswith("recraftv4") else 1_000


def takes_style(model: str) -> bool:
    """Whether `model` takes a style: recraftv4 models reject one."""
    return model in STYLED_MODELS


def sizes(model: str) -> tuple[str, ...]:
    """The sizes Recraft documents for `model`'s family."""
    return V3_SIZES if takes_style(model) else V4_SIZES


def check_combination(model: str, style: str, size: str) -> None:
    """Recraft's rules across keys: a style only where the model takes one, a size from the
    model family's list. (The prompt limit is applied to each story.)"""
    if takes_style(model) and not style:
        raise ConfigError(
            f"recraft.style = '' is not allowed with recraft.model = {model!r}: "
            f"a style name such as {DEFAULT_STYLE}"
        )
    if not takes_style(model) and style not in ("", DEFAULT_STYLE):
        raise ConfigError(
            f"recraft.style = {style!r} is not allowed with recraft.model = {model!r}: "
            f"Recraft takes a style only on {' and '.join(STYLED_MODELS)} (leave it empty)"
        )
    if size not in sizes(model):
        raise ConfigError(
            f"recraft.size = {size!r} is not allowed with recraft.model = {model!r}: "
            "one of " + ", ".join(sizes(model))
        )
