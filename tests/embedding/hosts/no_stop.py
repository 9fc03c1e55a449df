"""A host that starts a system, asks for a portrait, and returns without stop().

Run as a subprocess by tests/embedding/test_process.py. It prints the story's id, then
waits for a line on stdin (sent once the fake Recraft holds the portrait's request) and
returns with the portrait in flight.
"""

import sys

from vignette import StorySystem, load_settings

system = StorySystem.start(load_settings())
story = system.submit_story(title="Left", body="A body.", image_generation_prompt="A face")
print(story.id, flush=True)
sys.stdin.readline()
