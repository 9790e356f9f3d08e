"""Character-level tokenizer: one token per character seen, plus an unknown token.

Saved as a standard `tokenizer.json` (a word-level model over single characters) so that
`tokenizers` and `transformers` load it with no code of ours.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

from model_trainer.plugin import (
    HandleMethods,
    HfTokenizerHandle,
    JsonObject,
    NoOptions,
    TokenizerArtifact,
    TokenizerConfig,
    TokenizerHandle,
    TokenizerTrainRequest,
    export_tokenizer_json,
    iter_text_batches,
    save_tokenizer_json,
)

UNK = "<unk>"
"""Id 0: characters the vocabulary lacks; also what an export names as bos, eos and pad."""


def count_chars(path: Path) -> Counter[str]:
    """Character frequencies of a UTF-8 file, streamed in batches."""
    counts: Counter[str] = Counter()
    for batch in iter_text_batches(path, batch_chars=8 << 20):
        counts.update("\n".join(batch))
        counts["\n"] += len(batch)
    return counts


def char_vocab(counts: Counter[str], vocab_size: int, min_frequency: int) -> dict[str, int]:
    """`<unk>` first, then the most frequent characters, ids in code point order."""
    frequent = sorted(
        ((-n, c) for c, n in counts.items() if n >= min_frequency),
    )
    kept = sorted(c for _n, c in frequent[: vocab_size - 1])
    return {UNK: 0} | {char: i + 1 for i, char in enumerate(kept)}


def char_tokenizer(vocab: dict[str, int]) -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    specials: list[str] = [UNK]
    tokenizer.add_special_tokens(specials)
    return tokenizer


class CharBackend(HandleMethods):
    """`TokenizerBackend` for character-level vocabularies."""

    def name(self) -> str:
        return "char"

    def options_model(self) -> type[BaseModel]:
        return NoOptions

    def check(self, config: TokenizerConfig) -> TokenizerConfig:
        """Any `vocab_size` from 2 works (`<unk>` and one character; the request's own range);
        characters seen fewer than `min_frequency` times are left out."""
        return config.with_min_frequency(config.applied_min_frequency())

    def train(self, config: TokenizerConfig, request: TokenizerTrainRequest) -> TokenizerArtifact:
        counts = count_chars(request.train_file)
        vocab = char_vocab(counts, config.vocab_size, config.applied_min_frequency())
        return save_tokenizer_json(char_tokenizer(vocab), request.out_dir)

    def load(self, artifact_dir: Path) -> TokenizerHandle:
        return HfTokenizerHandle.from_dir(artifact_dir, unk_token=UNK)

    def export_hf(
        self, artifact_dir: Path, options: JsonObject, out_dir: Path, max_len: int
    ) -> list[str]:
        specials = {"unk_token": UNK, "bos_token": UNK, "eos_token": UNK, "pad_token": UNK}
        return export_tokenizer_json(artifact_dir, out_dir, max_len, specials)
