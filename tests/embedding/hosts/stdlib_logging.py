"""A host on standard `logging` that routes Vignette's records into it.

Run as a subprocess by tests/embedding/test_logging.py (no API key: the portrait fails and
its worker logs why). Its stderr is `logging.basicConfig`'s format only; its stdout is one
JSON line per record a handler on the `vignette` logger received.
"""

import json
import logging
import sys

import vignette

received: list[logging.LogRecord] = []


class Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        received.append(record)


logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="STD %(name)s %(message)s")
logging.getLogger("vignette").addHandler(Keep())
vignette.use_stdlib_logging()

with vignette.StorySystem.start(vignette.load_settings()) as system:
    story = system.submit_story(title="Routed", body="A body.", image_generation_prompt="A face")
    settled = system.wait_for_portrait(story.id, timeout=60)

for record in received:
    fields = ("name", "levelname", "story_id", "step")
    line = {key: getattr(record, key) for key in fields} | {"message": record.getMessage()}
    print(json.dumps(line | {"story": story.id}, default=str))
