"""Story writers: the built-in template writer and the OpenAI-compatible one."""
