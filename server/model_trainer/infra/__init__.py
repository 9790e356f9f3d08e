"""Adapters to the outside world: Redis, RQ, files on disk, the machine."""
