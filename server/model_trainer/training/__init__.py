"""Language-model training: datasets of token ids, the model backends, the loop, export."""
