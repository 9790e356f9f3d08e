"""Tokenizer files for a Hugging Face model folder, loadable by `AutoTokenizer` as is.

Each tokenizer plugin writes its own export; these are the pieces the built-in ones share.
`tokenizer.json` tokenizers are copied; SentencePiece models are rebuilt as an equivalent
`tokenizer.json` from their `.vocab` (pieces with scores), so `transformers` needs neither
`sentencepiece` nor protobuf to load them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

from model_trainer.core.contracts.tokenizer import SpecialTokens
from model_trainer.core.json_types import JsonObject
from model_trainer.infra.atomic import write_json
from model_trainer.tokenizers.hf_handle import TOKENIZER_JSON

TOKENIZER_CONFIG = "tokenizer_config.json"


class NoOptions(BaseModel):
    """A method with no options of its own: `options` must be empty."""

    model_config = ConfigDict(extra="forbid")


SPM_SPACE = "\u2581"
SPM_UNK = "<unk>"


def _spm_pieces(vocab_file: Path) -> list[tuple[str, float]]:
    pieces: list[tuple[str, float]] = []
    for line in vocab_file.read_text(encoding="utf-8").splitlines():
        piece, _, score = line.rpartition("\t")
        pieces.append((piece, float(score)))
    return pieces


def _spm_merges(pieces: list[tuple[str, float]]) -> list[tuple[str, str]]:
    """BPE merges implied by a SentencePiece BPE vocabulary (pieces ordered by rank)."""
    rank = {piece: i for i, (piece, _score) in enumerate(pieces)}
    merges: list[tuple[int, int, str, str]] = []
    for piece, i in rank.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in rank and right in rank:
                merges.append((i, rank[left] + rank[right], left, right))
    merges.sort()
    return [(left, right) for _i, _j, left, right in merges]


def spm_to_tokenizer(vocab_file: Path, model_type: str) -> Tokenizer:
    """An HF `Tokenizer` that segments like the SentencePiece model behind `vocab_file`."""
    pieces = _spm_pieces(vocab_file)
    byte_fallback = any(p.startswith("<0x") and p.endswith(">") for p, _s in pieces)
    if model_type == "bpe":
        vocab = {piece: i for i, (piece, _s) in enumerate(pieces)}
        model: models.Model = models.BPE(
            vocab=vocab,
            merges=_spm_merges(pieces),
            unk_token=SPM_UNK,
            byte_fallback=byte_fallback,
            fuse_unk=True,
        )
    else:
        model = models.Unigram(pieces, 0, byte_fallback)
    tokenizer = Tokenizer(model)
    normalize: list[normalizers.Normalizer] = [
        normalizers.Prepend(SPM_SPACE),
        normalizers.Replace(" ", SPM_SPACE),
    ]
    tokenizer.normalizer = normalizers.Sequence(normalize)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement=SPM_SPACE, prepend_scheme="never", split=False
    )
    steps: list[decoders.Decoder] = [decoders.Replace(SPM_SPACE, " ")]
    if byte_fallback:
        steps.append(decoders.ByteFallback())
    steps += [decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    tokenizer.decoder = decoders.Sequence(steps)
    specials: list[str] = [p for p, _s in pieces[:3]]
    tokenizer.add_special_tokens(specials)
    return tokenizer


def write_tokenizer_config(out_dir: Path, max_len: int, specials: dict[str, str]) -> str:
    """`tokenizer_config.json` naming `PreTrainedTokenizerFast`, with the special tokens
    (`bos_token`, `eos_token`, ...) and `model_max_length`, so `truncation=True` works."""
    config: JsonObject = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_len,
        "clean_up_tokenization_spaces": False,
    }
    config |= dict(specials)
    write_json(out_dir / TOKENIZER_CONFIG, config)
    return TOKENIZER_CONFIG


def export_tokenizer_json(
    artifact_dir: Path, out_dir: Path, max_len: int, specials: dict[str, str]
) -> list[str]:
    """Copy a `tokenizer.json` tokenizer and write its config; returns the file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifact_dir / TOKENIZER_JSON, out_dir / TOKENIZER_JSON)
    return [TOKENIZER_JSON, write_tokenizer_config(out_dir, max_len, specials)]


_CONFIG: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def exported_special_tokens(out_dir: Path) -> SpecialTokens:
    """The ids of the bos, eos and pad tokens a tokenizer export names in its
    `tokenizer_config.json`, looked up in its `tokenizer.json` (what a model export records)."""
    config = _CONFIG.validate_json((out_dir / TOKENIZER_CONFIG).read_bytes())
    tokenizer = Tokenizer.from_file(str(out_dir / TOKENIZER_JSON))

    def id_of(key: str) -> int | None:
        token = config.get(key)
        return tokenizer.token_to_id(token) if isinstance(token, str) else None

    return SpecialTokens(
        bos_id=id_of("bos_token"), eos_id=id_of("eos_token"), pad_id=id_of("pad_token")
    )
