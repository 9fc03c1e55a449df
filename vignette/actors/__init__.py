"""The Pykka actors and their supervision: StoryActor, PortraitSupervisor, PortraitActor,
StorageActor and DocumentActor, the messages they tell each other, and the supervisor's
worker slots, restart policy, housekeeping of leases, the call ledger and delayed messages."""
