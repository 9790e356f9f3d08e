"""Next-token scores of texts being generated, from cached keys and values where the model
offers them (`CachedDecoding`), so each new token costs one token's work, not the whole
text's; several texts share one forward pass (`DecodeBatch`).

A text's cache covers all its ids but the newest, which the next pass feeds. At the context
limit the window slides the way the family says (`keeps_cache_when_sliding`): a cache that
may slide drops its oldest entries; otherwise (every built-in family) the whole window runs
again at each token, which is what generation without a cache does, and texts there share
that pass too.
"""

from __future__ import annotations

import torch
from torch import Tensor

from model_trainer.core.contracts.model import CachedDecoding, KeyValues, LanguageModel
from model_trainer.core.errors import AppError, ErrorCode


def _rows(rows: list[list[int]]) -> Tensor:
    """(B, T) long tensor of equal-length id rows."""
    return torch.tensor(rows, dtype=torch.long)


class Text:
    """One text being generated: its ids (prompt, then new ones) and its cache."""

    def __init__(self, ids: list[int], max_seq_len: int) -> None:
        self.ids = list(ids)
        self.max_seq_len = max_seq_len
        self.cache: KeyValues | None = None
        self.covered = 0
        """Ids the cache covers: `ids[:covered]` (the window's, once it has slid)."""
        self.position = 0
        """The position the next fed id takes (it goes on counting when a cache slides)."""

    def cached_length(self) -> int:
        return 0 if self.cache is None else self.cache[0][0].shape[2]

    def batchable(self, model: LanguageModel) -> bool:
        """Whether the next step is one cached token, which a batch can share."""
        if not isinstance(model, CachedDecoding) or self.cache is None:
            return False
        if self.covered != len(self.ids) - 1:
            return False
        fits = self.cached_length() < self.max_seq_len
        return fits or model.keeps_cache_when_sliding()

    def slide(self) -> None:
        """Drop the oldest cached entries so that the next id fits the context."""
        if self.cache is not None and self.cached_length() >= self.max_seq_len:
            drop = self.cached_length() - self.max_seq_len + 1
            self.cache = [(k[:, :, drop:], v[:, :, drop:]) for k, v in self.cache]

    def reruns(self, model: LanguageModel) -> bool:
        """Whether the next step runs the whole (full) window again: past the context limit
        of a model whose cache cannot slide. Such texts can share a pass too: their windows
        are all the context long."""
        if len(self.ids) <= self.max_seq_len:
            return False
        return not isinstance(model, CachedDecoding) or not model.keeps_cache_when_sliding()

    def scores(self, model: LanguageModel) -> Tensor:
        """(1, vocab) scores of the next token, this text alone."""
        window = self.ids[-self.max_seq_len :]
        if self.reruns(model) or not isinstance(model, CachedDecoding):
            return rerun_windows(model, [self])
        if self.batchable(model):
            return DecodeBatch(model, [self]).step()[0:1]
        # First pass (the prompt) or a window that has to be filled again.
        positions = torch.arange(len(window)).unsqueeze(0)
        logits, self.cache = model.forward_cached(_rows([window]), None, None, positions)
        self.covered, self.position = len(self.ids), len(window)
        return logits[:, -1, :]


def rerun_windows(model: LanguageModel, texts: list[Text]) -> Tensor:
    """(B, vocab) next-token scores of texts whose windows run whole again, in one pass
    when they are of one length (texts past the limit all are); their caches are dropped."""
    windows = [text.ids[-text.max_seq_len :] for text in texts]
    for text in texts:
        text.cache = None  # learned positions: the window moved
    return model.logits(_rows(windows))[:, -1, :]


def _padded(tensor: Tensor, length: int) -> Tensor:
    """`tensor` (1, heads, t, width) with zeros before it up to `length` places."""
    missing = length - tensor.shape[2]
    if missing == 0:
        return tensor
    shape = (tensor.shape[0], tensor.shape[1], missing, tensor.shape[3])
    return torch.cat([tensor.new_zeros(shape), tensor], dim=2)


class DecodeBatch:
    """Texts whose next step is one cached token, run as one batch: their caches are
    left-padded to one length and the padding is masked out. Kept from step to step while
    the same texts go on (within a slice), the batch's keys and values are used as the
    model returns them, not gathered from the texts again."""

    def __init__(self, model: CachedDecoding, texts: list[Text]) -> None:
        self._model = model
        self._texts = texts
        self._past: KeyValues | None = None
        self._pads: list[int] = []
        self._given: list[KeyValues | None] = []

    def holds(self, texts: list[Text]) -> bool:
        """Whether this batch is of exactly `texts`, in order, each with the cache this
        batch gave it (a text stepped elsewhere since has moved on from the batch's)."""
        mine, given = self._texts, self._given
        if len(texts) != len(mine) or len(given) != len(mine):
            return False
        return all(a is b and a.cache is g for a, b, g in zip(texts, mine, given, strict=True))

    def _gather(self) -> KeyValues:
        """The texts' caches (slid where full) as one left-padded batch."""
        texts = self._texts
        for text in texts:
            text.slide()
        caches = [text.cache for text in texts if text.cache is not None]
        if len(caches) != len(texts):
            raise AppError(ErrorCode.INTERNAL_ERROR, "a batched text has no cache")
        lengths = [text.cached_length() for text in texts]
        longest = max(lengths)
        self._pads = [longest - length for length in lengths]
        if len(caches) == 1:
            return caches[0]
        return [
            (
                torch.cat([_padded(cache[layer][0], longest) for cache in caches]),
                torch.cat([_padded(cache[layer][1], longest) for cache in caches]),
            )
            for layer in range(len(caches[0]))
        ]

    def step(self) -> Tensor:
        """(B, vocab) next-token scores, one row per text; each cache then covers its
        newest id."""
        texts = self._texts
        past = self._past
        if (
            past is None
            or not self.holds(texts)
            or any(text.cached_length() >= text.max_seq_len for text in texts)
        ):
            past = self._gather()
        mask: Tensor | None = None
        if any(self._pads):
            mask = torch.ones((len(texts), past[0][0].shape[2] + 1), dtype=torch.long)
            for row, pad in enumerate(self._pads):
                mask[row, :pad] = 0
        ids = _rows([[text.ids[-1]] for text in texts])
        positions = _rows([[text.position] for text in texts])
        logits, self._past = self._model.forward_cached(ids, past, mask, positions)
        for row, (text, pad) in enumerate(zip(texts, self._pads, strict=True)):
            text.cache = [
                (k[row : row + 1, :, pad:], v[row : row + 1, :, pad:]) for k, v in self._past
            ]
            text.covered, text.position = len(text.ids), text.position + 1
        self._given = [text.cache for text in texts]
        return logits[:, -1, :]
