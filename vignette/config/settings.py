"""Settings: `default.toml`, overlaid by a TOML file, overridden by environment variables.

Each key is a field of a frozen dataclass, one per section. A field's metadata says which
values are allowed; a value outside them stops loading with one line naming the key, the
value and what is allowed. Secrets come from the environment only and are held in
pydantic's `SecretStr`, whose `repr` and `str` never show the value.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Self

from pydantic import SecretStr

DEFAULT_FILE = Path(__file__).with_name("default.toml")
ENV_PREFIX = "VIGNETTE_"

RECRAFT_MODELS = ("recraftv2", "recraftv3", "recraftv4", "recraftv4_1")
# Recraft's documented rules (recraft.ai/docs/api-reference/appendix and .../styles):
# styles exist on v2/v3 only, each model family has a fixed list of sizes, and prompts are
# limited to 1,000 characters on v2/v3 and 10,000 on v4.
STYLED_MODELS = ("recraftv2", "recraftv3")
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
STORY_WRITERS = ("template", "openai")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting has a value that is not allowed; the message is one line."""


def _rule(allowed: str, check: Callable[[Any], bool]) -> dict[str, Any]:
    return {"allowed": allowed, "check": check}


def _int_between(low: int, high: int) -> dict[str, Any]:
    return _rule(f"an integer from {low} to {high}", lambda v: low <= v <= high)


def _positive_seconds(high: float) -> dict[str, Any]:
    return _rule(f"a number of seconds above 0 and at most {high:g}", lambda v: 0 < v <= high)


def _one_of(choices: tuple[str, ...]) -> dict[str, Any]:
    return _rule("one of " + ", ".join(choices), lambda v: v in choices)


def _http_url(value: str) -> bool:
    return re.fullmatch(r"https?://[^\s/]+(/\S*)?", value) is not None


_NON_EMPTY = _rule("a non-empty string", lambda v: bool(v.strip()))
_URL = _rule("an http(s) URL such as https://host/v1", _http_url)


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = field(
        metadata=_rule(
            "sqlite:///PATH or postgresql://user@host:port/db",
            lambda v: v.startswith(("sqlite:///", "postgresql://", "postgres://")),
        )
    )


@dataclass(frozen=True)
class StorageSettings:
    path: str = field(metadata=_NON_EMPTY)
    max_file_bytes: int = field(metadata=_int_between(1, 2**40))


@dataclass(frozen=True)
class RecraftSettings:
    base_url: str = field(metadata=_URL)
    model: str = field(metadata=_one_of(RECRAFT_MODELS))
    # Sent on recraftv2/v3 only; checked against the model in Settings.from_mapping.
    style: str = field(metadata=_rule("a style name, or empty", lambda v: v == v.strip()))
    size: str = field(
        metadata=_rule(
            "WIDTHxHEIGHT, such as 1024x1024", lambda v: re.fullmatch(r"\d+x\d+", v) is not None
        )
    )
    timeout_s: float = field(metadata=_positive_seconds(3600))

    @property
    def prompt_limit(self) -> int:
        """Recraft's prompt length limit, in characters, for the configured model."""
        return 10_000 if self.model.startswith("recraftv4") else 1_000

    @property
    def takes_style(self) -> bool:
        """Whether the model takes a style: recraftv4 models reject one."""
        return self.model in STYLED_MODELS

    @property
    def sizes(self) -> tuple[str, ...]:
        """The sizes Recraft documents for the configured model's family."""
        return V3_SIZES if self.takes_style else V4_SIZES


@dataclass(frozen=True)
class PortraitSettings:
    concurrency: int = field(metadata=_int_between(1, 1024))
    rate_limit_per_minute: int = field(metadata=_int_between(1, 100_000))
    allow_insecure_urls: bool = field(metadata=_rule("true or false", lambda v: True))
    max_restarts: int = field(metadata=_int_between(0, 1_000_000))
    restart_window_s: float = field(metadata=_positive_seconds(86_400))
    restart_backoff_s: float = field(metadata=_positive_seconds(600))
    job_timeout_s: float = field(metadata=_positive_seconds(86_400))
    lease_s: float = field(metadata=_positive_seconds(86_400))
    poll_interval_s: float = field(metadata=_positive_seconds(3_600))
    shutdown_grace_s: float = field(
        metadata=_rule("a number of seconds from 0 to 3600", lambda v: 0 <= v <= 3600)
    )
    # Recraft calls per portrait: 1 is the seed's "no retry"; more retries 429, 5xx and
    # connections that could not be made, never a call that may have been billed.
    max_attempts: int = field(metadata=_int_between(1, 10))
    # The budget cap: Recraft calls started in any hour, per process; 0 means no cap
    # (TOML has no null).
    max_calls_per_hour: int = field(
        metadata=_rule("an integer from 0 (no cap) to 1000000", lambda v: 0 <= v <= 1_000_000)
    )


@dataclass(frozen=True)
class StorySettings:
    writer: str = field(metadata=_one_of(STORY_WRITERS))
    base_url: str = field(metadata=_URL)
    model: str = field(metadata=_NON_EMPTY)
    # The openai writer's system prompt: empty for the shipped config/story_prompt.md.
    prompt_file: str = field(
        metadata=_rule(
            "the path of an existing file, or empty for the shipped config/story_prompt.md",
            lambda v: not v.strip() or Path(v).expanduser().is_file(),
        )
    )
    timeout_s: float = field(metadata=_positive_seconds(3600))
    max_attempts: int = field(metadata=_int_between(1, 10))


@dataclass(frozen=True)
class ServerSettings:
    host: str = field(metadata=_NON_EMPTY)
    port: int = field(metadata=_int_between(0, 65_535))


@dataclass(frozen=True)
class LoggingSettings:
    level: str = field(metadata=_one_of(LOG_LEVELS))
    json: bool = field(metadata=_rule("true or false", lambda v: True))


_SECTIONS: dict[str, type] = {
    "database": DatabaseSettings,
    "storage": StorageSettings,
    "recraft": RecraftSettings,
    "portraits": PortraitSettings,
    "stories": StorySettings,
    "server": ServerSettings,
    "logging": LoggingSettings,
}


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings
    storage: StorageSettings
    recraft: RecraftSettings
    portraits: PortraitSettings
    stories: StorySettings
    server: ServerSettings
    logging: LoggingSettings
    recraft_api_key: SecretStr | None = field(default=None, repr=False)
    openai_api_key: SecretStr | None = field(default=None, repr=False)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], env: Mapping[str, str]) -> Self:
        """Build settings from parsed TOML plus the environment's overrides and secrets."""
        sections = {name: _build_section(name, data.get(name, {})) for name in _SECTIONS}
        base_url = sections["recraft"].base_url
        if base_url.startswith("http://") and not sections["portraits"].allow_insecure_urls:
            raise ConfigError(
                f"recraft.base_url = {base_url!r} is not allowed: an https URL "
                "(portraits.allow_insecure_urls = true permits http, for local testing only)"
            )
        _check_recraft_combination(sections["recraft"])
        return cls(
            **sections,
            recraft_api_key=_secret(env, "RECRAFT_API_KEY"),
            openai_api_key=_secret(env, "OPENAI_API_KEY"),
        )


def _check_recraft_combination(recraft: RecraftSettings) -> None:
    """Recraft's rules across keys: a style only where the model takes one, a size from the
    model family's list. (The prompt limit, `prompt_limit`, is applied to each story.)"""
    model = recraft.model
    if recraft.takes_style and not recraft.style:
        raise ConfigError(
            f"recraft.style = '' is not allowed with recraft.model = {model!r}: "
            f"a style name such as {DEFAULT_STYLE}"
        )
    # The default style is not sent on recraftv4, so switching only the model works; a style
    # chosen on purpose would silently do nothing there, so it is refused.
    if not recraft.takes_style and recraft.style not in ("", DEFAULT_STYLE):
        raise ConfigError(
            f"recraft.style = {recraft.style!r} is not allowed with recraft.model = {model!r}: "
            f"Recraft takes a style only on {' and '.join(STYLED_MODELS)} (leave it empty)"
        )
    if recraft.size not in recraft.sizes:
        raise ConfigError(
            f"recraft.size = {recraft.size!r} is not allowed with recraft.model = {model!r}: "
            "one of " + ", ".join(recraft.sizes)
        )


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, overlaid by the TOML file at `path`, overridden by `VIGNETTE_*` variables."""
    env = os.environ if env is None else env
    data = _read_toml(DEFAULT_FILE)
    if path is not None:
        _overlay(data, _read_toml(Path(path)), source=str(path))
    _overlay(data, _environment_overrides(env), source="the environment")
    return Settings.from_mapping(data, env)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


def _overlay(base: dict[str, Any], overlay: Mapping[str, Any], source: str) -> None:
    for section, values in overlay.items():
        if section not in _SECTIONS:
            raise ConfigError(
                f"unknown section [{section}] in {source}; known: " + ", ".join(_SECTIONS)
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"{section} in {source} must be a table of keys")
        known = {f.name for f in fields(_SECTIONS[section])}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"unknown key {section}.{key} in {source}; known: " + ", ".join(sorted(known))
                )
            base.setdefault(section, {})[key] = value


def _environment_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    overrides: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        overrides.setdefault(section, {})[key] = value
    return overrides


def _build_section(section: str, values: Mapping[str, Any]) -> Any:
    cls = _SECTIONS[section]
    kwargs = {}
    for spec in fields(cls):
        key = f"{section}.{spec.name}"
        if spec.name not in values:
            raise ConfigError(f"{key} is missing")
        value = _coerce(key, values[spec.name], spec.type, spec.metadata["allowed"])
        if not spec.metadata["check"](value):
            raise ConfigError(f"{key} = {value!r} is not allowed: {spec.metadata['allowed']}")
        kwargs[spec.name] = value
    return cls(**kwargs)


def _coerce(key: str, value: Any, type_name: Any, allowed: str) -> Any:
    """Turn a TOML value, or an environment variable's text, into the field's type."""
    wrong = ConfigError(f"{key} = {value!r} is not allowed: {allowed}")
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
            return False
        raise wrong
    if type_name == "int":
        if isinstance(value, bool):
            raise wrong
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        raise wrong
    if type_name == "float":
        if isinstance(value, bool):
            raise wrong
        if isinstance(value, int | float):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise wrong from None
    if not isinstance(value, str):
        raise wrong
    return value


def _secret(env: Mapping[str, str], name: str) -> SecretStr | None:
    value = env.get(name, "").strip()
    return SecretStr(value) if value else None
