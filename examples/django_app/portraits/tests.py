"""The example's own test: run with `python manage.py test portraits`.

Vignette's settings come from the environment (tests/embedding/test_examples.py points
them at a temporary folder and the local fake Recraft server).
"""

import logging
import queue
from logging.handlers import QueueHandler

from django.test import SimpleTestCase

from portraits.system import get_system


class StoryPagesTest(SimpleTestCase):
    def test_a_story_made_through_the_view_shows_its_portrait_on_its_page(self) -> None:
        records: queue.Queue[logging.LogRecord] = queue.Queue()
        handler = QueueHandler(records)
        logging.getLogger("vignette").addHandler(handler)
        try:
            response = self.client.post(
                "/stories/new",
                {"title": "Mrs Okafor", "body": "She came in with a cough.", "prompt": "A face"},
            )
            self.assertEqual(response.status_code, 302)
            story_id = response["Location"].strip("/").split("/")[-1]
            settled = get_system().wait_for_portrait(story_id, timeout=60)
            # The worker logs the stored portrait just after the story shows it.
            while getattr(records.get(timeout=30), "story_id", None) != story_id:
                pass
        finally:
            logging.getLogger("vignette").removeHandler(handler)
        self.assertEqual(settled.portrait_status, "stored")

        page = self.client.get(f"/stories/{story_id}/")
        self.assertContains(page, "Mrs Okafor")
        self.assertContains(page, "portrait: stored")
        self.assertContains(page, f'src="/stories/{story_id}/portrait"')
        image = self.client.get(f"/stories/{story_id}/portrait")
        self.assertEqual(image.status_code, 200)
        self.assertEqual(image["Content-Type"], "image/png")

    def test_a_story_without_a_title_is_refused_with_the_reason(self) -> None:
        response = self.client.post("/stories/new", {"title": "", "body": "b", "prompt": ""})
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "title", status_code=400)

    def test_an_unknown_story_is_not_found(self) -> None:
        self.assertEqual(self.client.get("/stories/nope/").status_code, 404)
