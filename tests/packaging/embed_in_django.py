"""Run inside a Django project made by `django-admin startproject config .`: embed Vignette.

tests/packaging/test_wheel.py copies this file into the project's folder and runs it there
with the venv the wheel was installed into, so the `config` on sys.path is Django's settings
package. Vignette's settings come from VIGNETTE_DATABASE__URL and VIGNETTE_STORAGE__PATH;
there is no API key, so the portrait ends `failed: missing_api_key`.
"""

import importlib
import os
import sys
from pathlib import Path

from vignette import StorySystem, load_settings

TITLE = "A patient seen from a Django project"

project = Path(__file__).resolve().parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django is installed in the test's venv only, not in the one mypy reads.
importlib.import_module("django").setup()
django_config = Path(sys.modules["config"].__file__ or "").parent
assert django_config == project / "config", f"config is {django_config}, not Django's"

with StorySystem.start(load_settings()) as system:
    story = system.submit_story(
        title=TITLE,
        body="She came in with a cough that had kept her awake for three weeks.",
        image_generation_prompt="A portrait of a woman in her sixties, soft window light",
    )
    stored = system.get_story(story.id)
    assert stored is not None, f"story {story.id} was not read back"
    assert stored.title == TITLE, stored.title
    settled = system.wait_for_portrait(story.id, timeout=60)

print(f"vignette from {sys.modules['vignette'].__file__}")
print(f"embedded in django: {settled.portrait_status} {settled.portrait_error}")
