"""What webhooks refuse: local and plain-http targets (the SSRF guard), malformed secrets,
no secret at all; and how an answer's Retry-After is read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from tests.fakes.webhook_receiver import SECRET
from vignette.config import ConfigError, Settings, load_settings
from vignette.system.facade import StorySystem
from vignette.webhooks.schedule import next_delay_s, retry_after_s
from vignette.webhooks.sender import WebhookSender
from vignette.webhooks.signing import Signer, new_secret

SECRET_ENV = {"VIGNETTE_WEBHOOK_SECRET": SECRET}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example/in", "not https"),
        ("https://127.0.0.1/in", "loopback, private or link-local"),
        ("https://localhost:8443/in", "loopback, private or link-local"),
        ("https://10.1.2.3/in", "loopback, private or link-local"),
        ("https://[::1]/in", "loopback, private or link-local"),
        ("https://169.254.169.254/latest", "loopback, private or link-local"),
    ],
)
def test_a_local_or_plain_http_target_is_refused_unless_allowed(url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as refused:
        WebhookSender(url, [SECRET])

    assert "\n" not in str(refused.value)
    assert "webhooks.allow_insecure_urls" in str(refused.value)
    WebhookSender(url, [SECRET], allow_insecure_urls=True).close()


@pytest.mark.sqlite_only
def test_a_system_with_a_loopback_target_does_not_start(
    make_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    settings = make_settings(webhooks__url="https://127.0.0.1:9/in", webhook_secret=SECRET)

    with pytest.raises(ConfigError, match=r"webhooks\.url"):
        start_system(settings)


@pytest.mark.sqlite_only
def test_a_target_without_a_secret_does_not_start(
    make_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    settings = make_settings(webhooks__url="https://hooks.example/in")

    with pytest.raises(ConfigError, match="VIGNETTE_WEBHOOK_SECRET is not"):
        start_system(settings)


def test_a_public_name_resolving_to_a_private_address_is_refused_at_connect() -> None:
    sender = WebhookSender(
        "https://hooks.example/in", [SECRET], resolve=lambda host, port: ["192.168.1.20"]
    )
    try:
        answer = sender.send("evt", "{}")
    finally:
        sender.close()

    assert answer.status_code is None
    assert answer.error is not None
    assert answer.error.startswith("insecure_url: host hooks.example resolves to 192.168.1.20")


@pytest.mark.parametrize(
    "secret",
    ["not-a-secret", "whsec_@@@@", "whsec_" + "QUJD" * 4, "whsec_" + "QUJD" * 30],
)
def test_a_malformed_secret_is_refused_in_one_line_without_showing_it(secret: str) -> None:
    for variable in ("VIGNETTE_WEBHOOK_SECRET", "VIGNETTE_WEBHOOK_SECRET_PREVIOUS"):
        with pytest.raises(ConfigError) as refused:
            load_settings(env={variable: secret})
        message = str(refused.value)
        assert message.startswith(f"{variable} is not allowed")
        assert "\n" not in message
        assert secret.removeprefix("whsec_") not in message.removesuffix("not shown)")


def test_a_secret_is_kept_out_of_the_settings_repr() -> None:
    settings = load_settings(env=SECRET_ENV)

    assert settings.webhook_secret is not None
    assert SECRET not in repr(settings)
    assert SECRET[6:] not in str(settings)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("URL", "ftp://x", "an http.s. URL"),
        ("EVENTS", '["portrait.started"]', "a list of event types"),
        ("RETRY_DELAYS_S", "[5, -1]", "a list of numbers of seconds"),
        ("ALLOW_INSECURE_URLS", "maybe", "true or false"),
    ],
)
def test_a_bad_webhooks_key_is_one_line(key: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigError, match=allowed) as refused:
        load_settings(env={f"VIGNETTE_WEBHOOKS__{key}": value})

    assert str(refused.value).startswith(f"webhooks.{key.lower()}")


def test_signatures_made_with_a_new_secret_verify_with_standardwebhooks() -> None:
    secret = new_secret()
    body = '{"type": "portrait.stored"}'

    headers = Signer([secret, SECRET]).headers("evt_1", body)

    assert Webhook(secret).verify(body, headers) == {"type": "portrait.stored"}
    assert Webhook(SECRET).verify(body, headers) == {"type": "portrait.stored"}
    assert load_settings(env={"VIGNETTE_WEBHOOK_SECRET": secret}).webhook_secret is not None


def test_retry_after_is_read_as_seconds_or_a_date_and_capped() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    assert retry_after_s("7") == 7.0
    assert retry_after_s("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_s("99999999") == 86_400.0
    assert retry_after_s("soon") is None
    assert retry_after_s(None) is None


def test_the_schedule_has_jitter_and_ends() -> None:
    delays = (5.0, 300.0)

    assert 4.5 <= (next_delay_s(delays, 1) or 0) <= 5.5
    assert 270 <= (next_delay_s(delays, 2) or 0) <= 330
    assert next_delay_s(delays, 3) is None
