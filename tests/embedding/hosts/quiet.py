"""A host that uses Vignette and configures no logging: it must print nothing but its own line.

Run as a subprocess by tests/embedding/test_logging.py, with VIGNETTE_DATABASE__URL and
VIGNETTE_STORAGE__PATH set and no API key, so start-up warns and the portrait fails.
"""

from vignette import StorySystem, load_settings

with StorySystem.start(load_settings()) as system:
    story = system.submit_story(title="Quiet", body="A body.", image_generation_prompt="A face")
    settled = system.wait_for_portrait(story.id, timeout=60)

print(settled.portrait_status, settled.portrait_error)
