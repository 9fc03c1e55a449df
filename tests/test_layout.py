"""The package's layout holds: one-way imports between its rooms, peewee only in models,
and modules small enough to read (ARCHITECTURE.md, "Where things live")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vignette"

# A room may import only from rooms of a lower rank.
RANKS = {
    "records": 0,
    "paging": 1,
    "errors": 1,
    "config": 1,
    "instance": 1,
    "metrics": 1,
    "net": 2,
    "storage": 2,
    "download": 3,
    "recraft": 4,
    "writers": 4,
    "models": 4,
    "webhooks": 4,
    "actors": 5,
    "system": 6,
    "api": 7,
    "cli": 8,
    "__init__": 9,
    "__main__": 10,
}
MAX_MODULE_LINES = 300


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _room(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "vignette":
                names += [f"vignette.{alias.name}" for alias in node.names]
            else:
                names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_every_room_has_a_rank() -> None:
    assert {_room(path) for path in _modules()} <= set(RANKS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    room = _room(path)
    upward = [
        name
        for name in _imports(path)
        if name.startswith("vignette.")
        and (target := name.split(".")[1]) != room
        and RANKS.get(target, -1) >= RANKS[room]
    ]
    assert upward == [], f"{room} may not import these: {upward}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_models_import_peewee(path: Path) -> None:
    if _room(path) == "models":
        return
    peewee = [n for n in _imports(path) if n.split(".")[0] in ("peewee", "playhouse")]
    assert peewee == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES
