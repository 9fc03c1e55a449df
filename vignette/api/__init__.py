"""Vignette's HTTP gateway: the contract's API, the gallery, health and metrics."""

from vignette.api.app import create_app
from vignette.api.limits import MAX_BODY_BYTES

__all__ = ["MAX_BODY_BYTES", "create_app"]
