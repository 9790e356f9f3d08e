"""Tokenizer backends (plugins), corpus splitting, holdout statistics and the training job."""
