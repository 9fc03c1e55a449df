"""The Recraft API: the generation request, its retries, and its error answers in plain words."""
