"""Another instance on the same database: submit N stories, wait for their portraits, print
their ids, stop. Run as a subprocess by tests/embedding/test_events.py."""

import sys

from vignette import StorySystem, load_settings

count = int(sys.argv[1])
with StorySystem.start(load_settings()) as system:
    ids = [
        system.submit_story(title=f"elsewhere {n}", body="b", image_generation_prompt=f"p{n}").id
        for n in range(count)
    ]
    for story_id in ids:
        system.wait_for_portrait(story_id, timeout=60)
print(" ".join(ids))
