"""The HTTP API: thin routes over orchestrators, typed schemas, uniform errors."""
