"""Webhook delivery as the Standard Webhooks specification has it: signing (`signing.py`),
the POST and what its answer means (`sender.py`), and when to try again (`schedule.py`)."""
