"""Where portrait files live: the on-disk layout and the staging area."""
