"""Model Trainer: train tokenizers and small language models through an API and workers."""

__version__ = "0.1.0"
