"""The built-in tokenizer plugins."""
