"""What the provider clients (Recraft, the OpenAI-compatible writer) share on the wire."""
