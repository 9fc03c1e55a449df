"""The running system: the `StorySystem` facade, the wiring that builds it from settings,
and the reads the command line makes without starting it."""
