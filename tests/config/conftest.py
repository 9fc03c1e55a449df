"""Fixtures for the settings tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The process environment without any Vignette variable or API key of the machine's,
    for settings built in code, which read `os.environ`."""
    for name in list(os.environ):
        if name.upper().startswith("VIGNETTE_") or name.upper().endswith("_API_KEY"):
            monkeypatch.delenv(name)
    return monkeypatch
