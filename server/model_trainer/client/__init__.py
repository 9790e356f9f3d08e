"""A typed client of the HTTP API for the CLI and the Discord bot.

It imports nothing heavy (no torch), so a command answers in a fraction of a second: the
read models in `views` carry the fields these clients show, and anything else passes
through as the API's own JSON (`--json`).
"""
