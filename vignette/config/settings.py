"""The settings: one frozen model per table of `default.toml`, and `Settings`, which holds
them and the API keys.

`load_settings(path=None, *, env=None, overrides=None)` reads them: the defaults in
`default.toml` (the one place defaults are written), overlaid key by key by the TOML file at
`path`, then by `VIGNETTE_<SECTION>__<KEY>` environment variables (a nested section adds one
more level, `VIGNETTE_STORAGE__S3__BUCKET`; a list is written as JSON), then by `overrides`,
a dict of dotted keys such as `{"portraits.concurrency": 2}`. `env` stands in for
`os.environ`. Secrets come from the environment only: `RECRAFT_API_KEY` and
`OPENAI_API_KEY`, held in pydantic's `SecretStr` and left out of every repr and error.

An embedding app may also build settings in code: `Settings(portraits={"concurrency": 2})`
takes its keywords (a section as a dict of some of its keys, or as a whole section model,
and the API keys as `recraft_api_key=...`) over the environment over `default.toml`.

Either way a bad value raises `ConfigError` with one line naming the key, the value and what
is allowed, and the result is frozen; `settings.model_copy(update={...})` makes a changed copy
(without checking it).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from vignette.config import recraft_rules
from vignette.config.fields import (
    Bool,
    FilePathOrEmpty,
    Float,
    HostNames,
    Int,
    Secret,
    between,
    flag,
    http_url,
    non_empty,
    one_of,
    seconds,
)
from vignette.config.loading import (
    ConfigError,
    Environment,
    TomlFile,
    dotted_overrides,
    one_line,
)
from vignette.config.paths import resolve_paths
from vignette.config.recraft_rules import RecraftModel
from vignette.config.webhooks import PreviousWebhookSecret, WebhookSecret, WebhookSettings

DEFAULT_FILE = Path(__file__).with_name("default.toml")

StoryWriter = Literal["template", "openai"]
LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DatabaseSettings(_Section):
    url: str = Field(
        pattern=r"^(sqlite:///|postgresql://|postgres://)",
        description="sqlite:///PATH or postgresql://user@host:port/db",
    )


StorageBackend = Literal["local", "s3"]


class S3Settings(_Section):
    """The S3-compatible bucket of the `s3` backend; credentials come from the standard AWS
    environment variables or profile, never from here."""

    endpoint_url: str = Field(
        default="",
        pattern=r"^(https?://[^\s/]+(/\S*)?)?$",
        description="an http(s) URL such as http://127.0.0.1:8333, or empty for AWS",
    )
    bucket: str = Field(
        default="",
        pattern=r"^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$",
        description="a bucket name: 3-63 lower-case letters, digits, dots and hyphens",
    )
    prefix: str = Field(
        default="",
        pattern=r"^([^/\s][^\s]*)?$",
        description="empty, or a key prefix without spaces that does not start with /",
    )
    region: str = Field(
        default="", pattern=r"^[a-z0-9-]*$", description="a region such as eu-west-1, or empty"
    )
    redirect: Bool = Field(default=False, description="true or false")


class StorageSettings(_Section):
    path: str = non_empty()
    max_file_bytes: Int = between(1, 2**40)
    # These came after `StorageSettings(path=..., max_file_bytes=...)` was public, so they
    # carry default.toml's defaults here too.
    backend: StorageBackend = Field(default="local", description="one of local, s3")
    s3: S3Settings = Field(default_factory=S3Settings)

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Self:
        if self.backend == "s3" and not self.s3.bucket:
            raise ConfigError(
                "storage.s3.bucket = '' is not allowed with storage.backend = 's3': "
                "name the bucket (VIGNETTE_STORAGE__S3__BUCKET)"
            )
        return self


class RecraftSettings(_Section):
    base_url: str = http_url()
    model: RecraftModel = one_of(RecraftModel)
    # Sent on recraftv2/v3 only; checked against the model below.
    style: str = Field(pattern=r"(?s)^(\S(.*\S)?)?$", description="a style name, or empty")
    size: str = Field(pattern=r"^\d+x\d+$", description="WIDTHxHEIGHT, such as 1024x1024")
    timeout_s: Float = seconds(3600)

    @model_validator(mode="after")
    def _recraft_takes_them_together(self) -> Self:
        recraft_rules.check_combination(self.model, self.style, self.size)
        return self

    @property
    def prompt_limit(self) -> int:
        """Recraft's prompt length limit, in characters, for the configured model."""
        return recraft_rules.prompt_limit(self.model)

    @property
    def takes_style(self) -> bool:
        """Whether the model takes a style: recraftv4 models reject one."""
        return recraft_rules.takes_style(self.model)

    @property
    def sizes(self) -> tuple[str, ...]:
        """The sizes Recraft documents for the configured model's family."""
        return recraft_rules.sizes(self.model)


class PortraitSettings(_Section):
    concurrency: Int = between(1, 1024)
    rate_limit_per_minute: Int = between(1, 100_000)
    allow_insecure_urls: Bool = flag()
    max_restarts: Int = between(0, 1_000_000)
    restart_window_s: Float = seconds(86_400)
    restart_backoff_s: Float = seconds(600)
    job_timeout_s: Float = seconds(86_400)
    lease_s: Float = seconds(86_400)
    poll_interval_s: Float = seconds(3_600)
    shutdown_grace_s: Float = seconds(3_600, zero=True)
    # Recraft calls per portrait: 1 is the seed's "no retry"; more retries 429, 5xx and
    # connections that could not be made, never a call that may have been billed.
    max_attempts: Int = between(1, 10)
    # The budget cap: Recraft calls started in any hour by every instance on the database
    # (counted in its call ledger); 0 means no cap (TOML has no null).
    max_calls_per_hour: Int = between(0, 1_000_000, "an integer from 0 (no cap) to 1000000")


class StorySettings(_Section):
    writer: StoryWriter = one_of(StoryWriter)
    base_url: str = http_url()
    model: str = non_empty()
    # The openai writer's system prompt: empty for the shipped config/story_prompt.md.
    prompt_file: FilePathOrEmpty = Field(
        description="the path of an existing file, or empty for the shipped config/story_prompt.md"
    )
    timeout_s: Float = seconds(3600)
    max_attempts: Int = between(1, 10)


class ServerSettings(_Section):
    host: str = non_empty()
    port: Int = between(0, 65_535)
    # The two keys below came after `ServerSettings(host=..., port=...)` was public, so they
    # carry default.toml's defaults here too, and a section built in code without them works.
    # Host headers served besides localhost, 127.0.0.1, [::1] and `host`; another gets 400.
    allowed_hosts: HostNames = Field(
        default=(),
        description='a list of host names, such as ["vignette.example"] (JSON in the '
        "environment); an IPv6 address in brackets",
    )
    # Once an API token exists, reads of /, /healthz, /metrics and files need one too.
    private_reads: Bool = Field(default=False, description="true or false")


with warnings.catch_warnings():
    # The key `logging.json` shadows pydantic's deprecated `BaseModel.json()`, on purpose.
    warnings.filterwarnings("ignore", 'Field name "json"', UserWarning)

    class LoggingSettings(_Section):
        level: LogLevel = one_of(LogLevel)
        json: Bool = flag()  # type: ignore[assignment]


def _api_key(variable: str) -> Any:
    return Field(
        default=None,
        validation_alias=AliasChoices(variable.lower(), variable),
        repr=False,
        description=f"a key of printable ASCII characters, from the variable {variable}",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    database: DatabaseSettings
    storage: StorageSettings
    recraft: RecraftSettings
    portraits: PortraitSettings
    stories: StorySettings
    server: ServerSettings
    logging: LoggingSettings
    webhooks: WebhookSettings
    recraft_api_key: Secret = _api_key("RECRAFT_API_KEY")
    openai_api_key: Secret = _api_key("OPENAI_API_KEY")
    webhook_secret: WebhookSecret = _api_key("VIGNETTE_WEBHOOK_SECRET")
    webhook_secret_previous: PreviousWebhookSecret = _api_key("VIGNETTE_WEBHOOK_SECRET_PREVIOUS")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise ConfigError(one_line(error, type(self))) from None
        except SettingsError as error:
            # A source's own refusal (a list that is not JSON) arrives wrapped.
            if isinstance(error.__cause__, ConfigError):
                raise error.__cause__ from None
            raise

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Built in code: the keywords, over the environment, over default.toml."""
        return init_settings, Environment(settings_cls), TomlFile(settings_cls, DEFAULT_FILE)

    @model_validator(mode="after")
    def _https_unless_insecure_allowed(self) -> Self:
        base_url = self.recraft.base_url
        if base_url.startswith("http://") and not self.portraits.allow_insecure_urls:
            raise ConfigError(
                f"recraft.base_url = {base_url!r} is not allowed: an https URL "
                "(portraits.allow_insecure_urls = true permits http, for local testing only)"
            )
        return self


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    base_dir: str | Path | None = None,
) -> Settings:
    """Defaults, overlaid by the TOML file at `path`, then by `VIGNETTE_*` variables in `env`
    (`os.environ` when None), then by `overrides`, a dict of dotted keys.

    With `base_dir`, a relative `storage.path` or SQLite file is made absolute against it;
    without, relative paths are relative to the working directory (the daemon's)."""
    files = [DEFAULT_FILE] if path is None else [Path(path), DEFAULT_FILE]
    sources = (
        dotted_overrides(Settings, overrides or {}),
        Environment(Settings, env),
        *(TomlFile(Settings, file) for file in files),
    )
    settings = Settings(_build_sources=(sources, {}))
    return settings if base_dir is None else resolve_paths(settings, base_dir)
