"""The Discord status bot: a DM-only view of runs for their owner (`model-trainer bot`).

The core (formatting, redaction, rate limiting and batching, the watch list, commands, the
event feed, catch-up and summaries) knows nothing of Discord: it produces `Message`s for a
`Sink`. `adapter.py` alone imports `discord.py` and connects the two; `main.run_bot` starts it.
"""
