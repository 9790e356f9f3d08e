"""Example Model Trainer plugins: the `wordpiece` tokenizer and the `gpt_neox` model family."""
