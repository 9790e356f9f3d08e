"""The built-in plugins (`bpe`, `char`, `sentencepiece`, `gpt2`), written as an outside
package writes its own: they import only `model_trainer.plugin`, `model_trainer.plugin_hf`
and third-party libraries (a test checks it), and are registered by entry points."""
