"""The training loop and its parts: optimizer, schedule, checkpoints, precision, device."""
