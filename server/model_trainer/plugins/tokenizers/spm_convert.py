"""SentencePiece models rebuilt as an equivalent `tokenizer.json` from their `.vocab`
(pieces with scores), so `transformers` needs neither `sentencepiece` nor protobuf to load
what the `sentencepiece` plugin exports."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

SPM_SPACE = "\u2581"
SPM_UNK = "<unk>"


def _spm_pieces(vocab_file: Path) -> list[tuple[str, float]]:
    """(piece, score) per line; lines end at `\n` only, as pieces may be other line breaks
    (a corpus's `\r`, `\x85`, `\u2028`), which text mode and `splitlines` would cut at."""
    pieces: list[tuple[str, float]] = []
    for line in vocab_file.read_bytes().decode("utf-8").split("\n"):
        if not line:
            continue
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
