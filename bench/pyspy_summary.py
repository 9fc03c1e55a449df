"""Where the samples of a py-spy raw profile go: by library, by function (self and total).

    python -m bench.pyspy_summary bench/results/<stamp>-c64.pyspy.txt [--top 25]

`bench.run --pyspy` writes one such file per system scenario (`py-spy record --format raw`:
one collapsed stack per line, then its sample count). py-spy counts a thread only while
it runs (not while it waits on a lock, the GIL or a socket), so the shares are shares of
the CPU the process spent in Python frames, and of C code called from them.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# The first frame, from the leaf up, whose file matches one of these names the library.
LIBRARIES = (
    ("httpx, httpcore, h11 (HTTP client)", re.compile(r"\b(httpx|httpcore|h11|anyio)/")),
    ("Pillow (image check)", re.compile(r"\bPIL/")),
    ("peewee and sqlite3", re.compile(r"\b(peewee\.py|playhouse/|sqlite3/)")),
    ("pykka (messages, futures)", re.compile(r"\bpykka/")),
    ("loguru (logging)", re.compile(r"\bloguru/")),
    ("prometheus_client (metrics)", re.compile(r"\bprometheus_client/")),
    ("vignette actors (own lines)", re.compile(r"\b(actors|models|config)/")),
    ("benchmark harness", re.compile(r"\bbench/")),
)
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*):(?P<line>\d+)\)$")


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _name(frame: str) -> tuple[str, str]:
    """(function with file, file) of one collapsed frame, line numbers dropped."""
    match = FRAME.match(frame)
    if match is None:
        return frame, ""
    return f"{match['function']} ({match['file']})", match["file"]


def library(frames: list[str]) -> str:
    for frame in reversed(frames):
        _, file = _name(frame)
        for label, pattern in LIBRARIES:
            if pattern.search(file):
                return label
    leaf_file = _name(frames[-1])[1] if frames else ""
    return f"other: {leaf_file or '?'}"


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(count for _, count in stacks)
    if not total:
        return "no samples"
    by_library: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        by_library[library(frames)] += count
        self_time[_name(frames[-1])[0]] += count
        for name in {_name(frame)[0] for frame in frames}:
            inclusive[name] += count

    def block(title: str, counter: Counter[str], limit: int) -> list[str]:
        lines = [title]
        lines += [f"  {count / total:6.1%}  {name}" for name, count in counter.most_common(limit)]
        return lines

    out = [f"{total} samples"]
    out += block("By library (leaf-most frame that belongs to one):", by_library, 20)
    out += block(f"Top {top} functions, self:", self_time, top)
    out += block(f"Top {top} functions, total (self and callees):", inclusive, top)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.profile:
        print(f"== {path}")
        print(summarise(parse(path), args.top))


if __name__ == "__main__":
    main()
