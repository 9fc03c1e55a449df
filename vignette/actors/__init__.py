"""The Pykka actors and their supervision: StoryActor, PortraitSupervisor, PortraitActor,
StorageActor and DocumentActor, the messages they tell each other, and the supervisor's
restart policy, leases and call limits."""
