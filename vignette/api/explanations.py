"""What each portrait error code means for the person looking at the gallery: what happened
and what to do. The code's own message, more technical, is shown behind a disclosure."""

from __future__ import annotations

from types import MappingProxyType

from vignette.records import PortraitErrorCode as E

EXPLANATIONS = MappingProxyType(
    {
        E.MISSING_API_KEY: "No Recraft API key is set, so no portrait was requested. "
        "Set RECRAFT_API_KEY, restart Vignette, then regenerate.",
        E.EMPTY_PROMPT: "The story has no image prompt, so no portrait was made.",
        E.RATE_LIMITED: "Recraft asked for fewer requests. Wait a minute, then regenerate.",
        E.API_ERROR: "Recraft refused or could not make the image. Check the account's key "
        "and credits, then regenerate.",
        E.BAD_RESPONSE: "Recraft's answer could not be read. Regenerate to try again.",
        E.DOWNLOAD_ERROR: "The generated image could not be downloaded. Regenerate to try again.",
        E.INVALID_IMAGE: "The downloaded file was not a whole image. Regenerate to try again.",
        E.TOO_LARGE: "The image was larger than storage.max_file_bytes allows. Raise the "
        "limit or regenerate.",
        E.INSECURE_URL: "Recraft's answer pointed at an address Vignette does not fetch "
        "from. Regenerate; if it happens again, check recraft.base_url.",
        E.STORAGE_ERROR: "The image could not be saved. Check the disk under storage.path, "
        "then regenerate.",
        E.INTERRUPTED: "Vignette stopped while the portrait was being made. Regenerate it.",
        E.CRASHED: "The portrait worker met an unexpected error. Regenerate; if it happens "
        "again, the log has the details under this story's id.",
        E.TIMEOUT: "The portrait took longer than portraits.job_timeout_s. Regenerate to "
        "try again.",
    }
)


def explain(code: str | None) -> str | None:
    """The plain sentence for a code, or None for a code this Vignette does not know."""
    try:
        return EXPLANATIONS.get(E(code)) if code else None
    except ValueError:
        return None
