"""`vignette webhooks secret` prints a fresh signing secret that the settings accept."""

from __future__ import annotations

import pytest

from vignette.cli import main
from vignette.config import load_settings


@pytest.mark.usefixtures("configured_logging")  # main() sets logging up
def test_the_secret_command_prints_a_fresh_whsec_secret_on_its_last_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["webhooks", "secret"]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["webhooks", "secret"]) == 0
    second = capsys.readouterr().out.strip().splitlines()[-1]

    assert first.startswith("whsec_")
    assert first != second
    settings = load_settings(env={"VIGNETTE_WEBHOOK_SECRET": first})
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == first
