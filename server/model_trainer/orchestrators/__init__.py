"""Orchestrators validate requests, record them, and hand work to the queue."""
