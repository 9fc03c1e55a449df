"""The project's one StorySystem, started on first use.

Vignette runs one system per process; Django may import this module in processes that
never need one (`manage.py check`), so nothing starts at import. Nothing stops it either:
at interpreter exit Vignette stops itself, failing any portrait still in flight as
`interrupted`.
"""

import threading

from django.conf import settings

from vignette import StorySystem, load_settings

_lock = threading.Lock()
_system: StorySystem | None = None


def get_system() -> StorySystem:
    global _system
    with _lock:
        if _system is None:
            _system = StorySystem.start(load_settings(base_dir=settings.VIGNETTE_BASE_DIR))
        return _system
