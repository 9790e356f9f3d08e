"""What uses a finished run's model: evaluation and sampling."""
