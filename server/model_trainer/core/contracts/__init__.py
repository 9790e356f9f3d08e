"""Protocols that backends, queues, publishers and compute providers implement."""
