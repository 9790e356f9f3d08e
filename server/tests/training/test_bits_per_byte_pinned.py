"""Bits per byte pinned to figures known by hand, not measured: a GPT-2 whose every
prediction is a distribution we chose, built through the family plugin, exported and read
back as the evaluation reads a run's export, then scored by the evaluation's own windowing
(`mean_loss`, over windows of `min(max_seq_len, tokens - 1)`) and `bits_per_byte`.

With every weight zero, the logits are zero: each token costs ln V nats, the mean loss is
ln V whatever the windows, and bits per byte is tokens * log2 V / bytes. With the final
layer norm's bias the first unit vector and the (tied) token embedding's first column
ln w_v, the logits are ln w_v at every position (the blocks add nothing, the layer norm's
zero weight drops its input): token v costs -ln(w_v / sum w) nats."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from model_trainer.core.contracts.model import Architecture, LanguageModel
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.loop.loop import mean_loss
from model_trainer.training.run.figures import bits_per_byte

CONTEXT = 16
VOCAB = 97
"""More entries than the text uses: the unused ones take their share of a uniform model."""
# Characters of one, two and three UTF-8 bytes: bits per byte divides by bytes.
TEXT = "".join(f"naïve café {i % 7} — über straße\n" for i in range(12))
CHARS = sorted(set(TEXT))
ARCH = Architecture(
    family="gpt2",
    n_layer=2,
    n_head=2,
    n_embd=16,
    max_seq_len=CONTEXT,
    vocab_size=VOCAB,
    dropout=0.0,
)
TOKENS, SIZE = 324, 396
PINNED = 5.399928689062195
"""324 * log2(97) / 396: the uniform model's bits per byte of `TEXT`, written out."""
WEIGHTS = [float(1 + v % 5) for v in range(VOCAB)]
"""Token v's unnormalised probability in the hand-known model."""


def _exported(tmp_path: Path, hand_known: bool) -> LanguageModel:
    """The model with chosen predictions, through `export` and `load` as a run's is."""
    backend = Gpt2Backend()
    built = backend.build(ARCH)
    params = dict(built.module.named_parameters())
    with torch.no_grad():
        for param in params.values():
            param.zero_()
        if hand_known:
            params["transformer.ln_f.bias"][0] = 1.0
            params["transformer.wte.weight"][:, 0] = torch.tensor(WEIGHTS).log()
    backend.export(built, ARCH, tmp_path / "export")
    return backend.load(tmp_path / "export")


def _ids(text: str) -> list[int]:
    return [CHARS.index(c) for c in text]


def _evaluated(model: LanguageModel, text: str) -> tuple[float, float | None]:
    """Loss and bits per byte as the evaluation computes them for `text`."""
    ids = _ids(text)
    block = min(ARCH.max_seq_len, len(ids) - 1)
    loss, _windows = mean_loss(model, torch.tensor(ids, dtype=torch.long), block)
    return loss, bits_per_byte(loss, len(ids), len(text.encode("utf-8")))


def test_uniform_predictions_give_log2_of_the_vocabulary_per_token(tmp_path: Path) -> None:
    model = _exported(tmp_path, hand_known=False)
    assert len(TEXT) > 2 * CONTEXT and (len(TEXT) - 1) % CONTEXT  # several windows, a tail
    size = len(TEXT.encode("utf-8"))
    assert size > len(TEXT)
    loss, bpb = _evaluated(model, TEXT)
    assert math.isclose(loss, math.log(VOCAB), rel_tol=1e-6)
    assert bpb is not None
    expected = len(TEXT) * math.log2(VOCAB) / size
    assert math.isclose(bpb, expected, rel_tol=1e-6), (bpb, expected)
    assert (len(TEXT), size) == (TOKENS, SIZE)
    assert math.isclose(bpb, PINNED, rel_tol=1e-6), bpb


@pytest.mark.parametrize("length", [CONTEXT // 2, CONTEXT + 1, len(TEXT)])
def test_hand_known_probabilities(tmp_path: Path, length: int) -> None:
    """A text shorter than the context, one that fills it, and one of several windows and
    a tail: the evaluation scores tokens 1 .. windows * block, each once."""
    model = _exported(tmp_path, hand_known=True)
    text = TEXT[:length]
    ids = _ids(text)
    with torch.no_grad():
        logits = model.logits(torch.tensor(ids[:CONTEXT]).unsqueeze(0))
    assert torch.allclose(logits[0, -1], torch.tensor(WEIGHTS).log(), atol=1e-6)
    block = min(CONTEXT, len(ids) - 1)
    scored = ids[1 : (len(ids) - 1) // block * block + 1]
    total = sum(WEIGHTS)
    mean = sum(-math.log(WEIGHTS[t] / total) for t in scored) / len(scored)
    loss, bpb = _evaluated(model, text)
    assert math.isclose(loss, mean, rel_tol=1e-6), (loss, mean)
    assert bpb is not None
    expected = mean * len(ids) / (math.log(2) * len(text.encode("utf-8")))
    assert math.isclose(bpb, expected, rel_tol=1e-6), (bpb, expected)


@pytest.mark.parametrize("hand_known", [False, True])
def test_the_figure_is_the_same_on_every_evaluation(tmp_path: Path, hand_known: bool) -> None:
    model = _exported(tmp_path, hand_known)
    assert _evaluated(model, TEXT) == _evaluated(model, TEXT)
