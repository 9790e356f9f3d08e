"""The worker process: an RQ worker whose jobs are this package's module-level functions."""
