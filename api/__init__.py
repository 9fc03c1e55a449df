"""Vignette's HTTP gateway: the contract's API, the gallery, health and metrics."""

from api.app import create_app
from api.limits import MAX_BODY_BYTES

__all__ = ["MAX_BODY_BYTES", "create_app"]
