"""Where settings come from, and how a refusal reads.

The pydantic-settings sources `Settings` is built from: `TomlFile` (one TOML file),
`Environment` (`VIGNETTE_<SECTION>__<KEY>` variables and the API keys, from any mapping) and
`dotted_overrides` (`{"portraits.concurrency": 2}`). Each refuses, before anything is
validated, a section or key the settings do not have, naming it, where it came from and the
known ones. `one_line` turns pydantic's `ValidationError` into `ConfigError`'s single line:
the key, the value and what is allowed. Nothing here knows the settings themselves: they are
the `settings_cls` given.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    TomlConfigSettingsSource,
)

_ENV_PREFIX = "VIGNETTE_"


class ConfigError(ValueError):
    """A setting has a value that is not allowed; the message is one line."""


def _section(field: FieldInfo) -> type[BaseModel] | None:
    """The model of a field that is a section (a TOML table), or None for a key."""
    kind = field.annotation
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _check_path(parts: Sequence[str], settings_cls: type[BaseModel], source: str) -> bool:
    """Refuse a path the settings do not have; return whether it names a section.

    At the top level only sections may be named: the API keys never come from a file, a
    `VIGNETTE_` variable or an override."""
    model: type[BaseModel] | None = settings_cls
    for depth, part in enumerate(parts):
        name = ".".join(parts[: depth + 1])
        if model is None:
            key = ".".join(parts[:depth])
            raise ConfigError(f"{name} in {source}: {key} is a key, not a table")
        known = {k: f for k, f in model.model_fields.items() if depth or _section(f) is not None}
        if part not in known:
            what = f"key {name}" if depth else f"section [{name}]"
            raise ConfigError(f"unknown {what} in {source}; known: " + ", ".join(known))
        model = _section(known[part])
    return model is not None


def _check_tree(
    tree: Mapping[str, Any], settings_cls: type[BaseModel], source: str, parents: tuple[str, ...]
) -> None:
    for name, value in tree.items():
        path = (*parents, name)
        if _check_path(path, settings_cls, source):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{'.'.join(path)} in {source} must be a table of keys")
            _check_tree(value, settings_cls, source, path)


def _check_key(key: str, settings_cls: type[BaseModel], source: str) -> None:
    if _check_path(key.split("."), settings_cls, source):
        raise ConfigError(f"{key} in {source} is a table: name one of its keys, {key}.KEY")


class TomlFile(TomlConfigSettingsSource):
    """The settings in one TOML file, which must exist, parse and hold only known keys."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        if not path.is_file():
            problem = "is not a file" if path.exists() else "does not exist"
            raise ConfigError(f"config file {path} {problem}")
        try:
            super().__init__(settings_cls, toml_file=path)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
        _check_tree(self.toml_data, settings_cls, str(path), ())


class Environment(EnvSettingsSource):
    """`VIGNETTE_<SECTION>__<KEY>` variables and the API keys, read from `environ` (by
    default `os.environ`); names are matched in any case.

    A `VIGNETTE_` name with a double underscore must name a key; one without is not a
    setting and is left alone, and a section is never read whole, as JSON, from one
    variable such as `VIGNETTE_SERVER`."""

    def __init__(
        self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None
    ) -> None:
        self._environ = os.environ if environ is None else environ
        super().__init__(
            settings_cls, case_sensitive=False, env_prefix=_ENV_PREFIX, env_nested_delimiter="__"
        )
        prefix = _ENV_PREFIX.lower()
        for name in self.env_vars:
            if name.startswith(prefix) and "__" in name:
                key = name[len(prefix) :].replace("__", ".")
                _check_key(key, settings_cls, f"the environment ({name.upper()})")

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        """A list's value, read as JSON; text that is not JSON is one line naming it."""
        try:
            return super().decode_complex_value(field_name, field, value)  # type: ignore[arg-type]
        except ValueError as error:
            names = [n for n, v in self.env_vars.items() if n.endswith(field_name) and v == value]
            name = names[0].upper() if names else field_name
            raise ConfigError(
                f"{name} = {value!r} is not valid JSON ({error}); a list is written as JSON, "
                "such as '[\"a.example\"]'"
            ) from None

    def _load_env_vars(self) -> Mapping[str, str | None]:
        fields = self.settings_cls.model_fields
        sections = {_ENV_PREFIX.lower() + name for name, f in fields.items() if _section(f)}
        variables = {name.lower(): value for name, value in self._environ.items()}
        return {name: value for name, value in variables.items() if name not in sections}


def dotted_overrides(
    settings_cls: type[BaseSettings], dotted: Mapping[str, Any]
) -> InitSettingsSource:
    """A source of dotted keys and their values, `{"portraits.concurrency": 2}`."""
    tree: dict[str, Any] = {}
    for key, value in dotted.items():
        _check_key(key, settings_cls, "overrides")
        *sections, name = key.split(".")
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    return InitSettingsSource(settings_cls, tree)


def one_line(error: ValidationError, settings_cls: type[BaseModel]) -> str:
    """The first of pydantic's errors as one line naming the key, the value (never a
    secret's: a field left out of repr is left out here) and what is allowed."""
    first = error.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, ConfigError):  # a rule across keys, which says it all
        return str(cause)
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return f"{key} is missing"
    field = _field_at(settings_cls, first["loc"])
    if field is None:
        return f"{key} is not a setting"
    allowed = field.description or "a table of keys"  # sections have no description
    if not field.repr:
        return f"{key} is not allowed: {allowed}"
    return f"{key} = {first['input']!r} is not allowed: {allowed}"


def _field_at(settings_cls: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    """The field an error's location names (a list item's errors name the list)."""
    model: type[BaseModel] | None = settings_cls
    field = None
    for part in loc:
        if model is None:
            break
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = _section(field)
    return field
