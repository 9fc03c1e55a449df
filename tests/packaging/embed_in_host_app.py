"""Run from a host app's folder that has its own `models.py`, `api/` and `config/`.

tests/packaging/test_wheel.py writes that folder (each of the three modules holds
`OWNER = "host app"`), copies this file into it and runs it there, so the folder is first on
sys.path. Vignette must import from its own package and leave the host's names alone.
"""

import importlib
import sys

import vignette
import vignette.api
import vignette.cli

GENERIC_NAMES = {"actors", "api", "config", "models", "runner"}

imported = sorted(GENERIC_NAMES & sys.modules.keys())
assert not imported, f"importing vignette imported top-level {imported}"
assert isinstance(vignette.StorySystem, type), vignette.StorySystem
assert callable(vignette.load_settings), vignette.load_settings
for name in ("models", "api", "config"):
    module = importlib.import_module(name)
    assert getattr(module, "OWNER", None) == "host app", f"{name} is {module.__file__}"

print(f"vignette from {vignette.__file__}")
print("imported beside the host app's models, api and config")
