"""Core: settings, errors, logging, contracts and the service container."""
