"""Settings added by the hardening issue: Recraft's model, style and size rules checked at
start, retries, and the budget cap key."""

from __future__ import annotations

import pytest

from tests.config.support import config_error
from vignette.config import Settings, load_settings
from vignette.config.recraft_rules import V3_SIZES, V4_SIZES


def load(**env: str) -> Settings:
    return load_settings(env={f"VIGNETTE_{k.upper()}": v for k, v in env.items()})


# Model, style and size -----------------------------------------------------------------------


@pytest.mark.parametrize("size", V3_SIZES)
@pytest.mark.parametrize("model", ["recraftv2", "recraftv3"])
def test_every_documented_v2_v3_size_loads(model: str, size: str) -> None:
    assert load(recraft__model=model, recraft__size=size).recraft.size == size


@pytest.mark.parametrize("size", V4_SIZES)
@pytest.mark.parametrize("model", ["recraftv4", "recraftv4_1"])
def test_every_documented_v4_size_loads(model: str, size: str) -> None:
    assert load(recraft__model=model, recraft__size=size).recraft.size == size


def test_the_size_lists_are_recrafts() -> None:
    assert len(V3_SIZES) == 15
    assert len(V4_SIZES) == 14
    assert "1024x1024" in V3_SIZES
    assert "1024x1024" in V4_SIZES
    assert {"1820x1024", "1024x1707", "1434x1024"} <= set(V3_SIZES)
    assert {"1536x768", "1344x768", "832x1344"} <= set(V4_SIZES)


@pytest.mark.parametrize(
    ("env", "pieces"),
    [
        pytest.param(
            {"recraft__model": "recraftv3", "recraft__size": "1536x768"},
            ["recraft.size = '1536x768'", "recraft.model = 'recraftv3'", "1365x1024"],
            id="v4-size-on-v3",
        ),
        pytest.param(
            {"recraft__model": "recraftv4", "recraft__style": "", "recraft__size": "1365x1024"},
            ["recraft.size = '1365x1024'", "recraft.model = 'recraftv4'", "1344x768"],
            id="v3-size-on-v4",
        ),
        pytest.param(
            {"recraft__size": "1000x1000"},
            ["recraft.size = '1000x1000'", "1024x1024"],
            id="undocumented-size",
        ),
        pytest.param(
            {"recraft__model": "recraftv4", "recraft__style": "digital_illustration"},
            [
                "recraft.style = 'digital_illustration'",
                "recraft.model = 'recraftv4'",
                "only on recraftv2 and recraftv3",
            ],
            id="style-on-v4",
        ),
        pytest.param(
            {"recraft__model": "recraftv4_1", "recraft__style": "vector_illustration"},
            ["recraft.style = 'vector_illustration'", "recraftv4_1"],
            id="style-on-v4_1",
        ),
        pytest.param(
            {"recraft__model": "recraftv3", "recraft__style": ""},
            ["recraft.style = ''", "recraft.model = 'recraftv3'", "realistic_image"],
            id="no-style-on-v3",
        ),
        pytest.param(
            {"recraft__style": " realistic_image"},
            ["recraft.style", "' realistic_image'"],
            id="style-with-spaces",
        ),
    ],
)
def test_a_combination_recraft_refuses_stops_start_with_one_line(
    env: dict[str, str], pieces: list[str]
) -> None:
    message = config_error(env={f"VIGNETTE_{k.upper()}": v for k, v in env.items()})

    for piece in pieces:
        assert piece in message


def test_on_v4_the_default_style_is_kept_but_not_sent_and_no_style_is_fine() -> None:
    switched = load(recraft__model="recraftv4")
    assert switched.recraft.style == "realistic_image"
    assert switched.recraft.takes_style is False
    assert load(recraft__model="recraftv4", recraft__style="").recraft.takes_style is False
    assert load(recraft__model="recraftv2").recraft.takes_style is True


# Retries and the budget cap ------------------------------------------------------------------


def test_retries_are_off_and_the_budget_is_uncapped_by_default() -> None:
    portraits = load().portraits
    assert portraits.max_attempts == 1
    assert portraits.max_calls_per_hour == 0


def test_retries_and_the_budget_cap_can_be_set() -> None:
    portraits = load(portraits__max_attempts="4", portraits__max_calls_per_hour="250").portraits
    assert (portraits.max_attempts, portraits.max_calls_per_hour) == (4, 250)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("portraits.max_attempts", "0", "from 1 to 10"),
        ("portraits.max_attempts", "11", "from 1 to 10"),
        ("portraits.max_attempts", "two", "from 1 to 10"),
        ("portraits.max_calls_per_hour", "-1", "0 (no cap)"),
        ("portraits.max_calls_per_hour", "1.5", "0 (no cap)"),
    ],
)
def test_bad_retry_and_budget_values_are_refused(key: str, value: str, allowed: str) -> None:
    section, name = key.split(".")
    message = config_error(env={f"VIGNETTE_{section.upper()}__{name.upper()}": value})

    assert key in message
    assert value in message
    assert allowed in message
