"""A plain script that embeds Vignette: write a story, wait for its portrait, and save the
portrait in the working directory.

Vignette is silent unless asked: this script sends its warnings to standard `logging`.
Its database and files live under `examples/data/`, whatever the working directory.
"""

import logging
import sys
from pathlib import Path

import vignette
from vignette import StorySystem, load_settings

HERE = Path(__file__).resolve().parent


def main() -> int:
    # Vignette's warnings and errors, with the story each is about, on stderr.
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(levelname)s %(name)s [story=%(story_id)s] %(message)s")
    )
    log = logging.getLogger("vignette")
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    log.propagate = False
    vignette.use_stdlib_logging()

    settings = load_settings(base_dir=HERE)
    with StorySystem.start(settings) as system:
        story = system.generate_story(seed=7)
        print(f"wrote {story.title!r} ({story.id})")
        story = system.wait_for_portrait(story.id, timeout=120)
        print(f"portrait {story.portrait_status}", story.portrait_error or "")
        if story.storage_id is None:
            return 1
        data, content_type = system.read_file(story.storage_id)
        out = Path.cwd() / f"portrait-{story.id}.{content_type.rpartition('/')[2]}"
        out.write_bytes(data)
        print(f"saved {len(data)} bytes to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
