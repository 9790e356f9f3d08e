"""The lengths in tokens of the documents of an evaluated text, found in its token ids.

A document is a line: the corpus is split into train and validation by lines (a structured
corpus's records are rendered as text, and count as their lines). Lines are found where the
model sees them: a token whose text holds a line break ends one, and counts in it (a
tokenizer may merge the break with what precedes it). A blank line (a lone token of
whitespace) is no document. A tokenizer that drops line breaks sees the text as one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from model_trainer.core.contracts.tokenizer import TokenizerHandle


def document_lengths(ids: Tensor, handle: TokenizerHandle) -> list[int]:
    """Tokens of each non-blank line of the text `ids` encode, in order."""
    if len(ids) == 0:
        return []
    present: list[int] = torch.nonzero(torch.bincount(ids)).flatten().tolist()
    pieces = {token: handle.decode([token]) for token in present}
    breaking = [token for token, piece in pieces.items() if "\n" in piece]
    if not breaking:
        return [len(ids)]
    blank = {token for token in breaking if not pieces[token].strip()}
    ends: list[int] = (
        torch.nonzero(torch.isin(ids, torch.tensor(breaking))).flatten() + 1
    ).tolist()
    if ends[-1] != len(ids):
        ends.append(len(ids))  # the text's last line, without a break
    starts = [0, *ends[:-1]]
    first: list[int] = ids[torch.tensor(starts)].tolist()
    return [
        end - start
        for start, end, token in zip(starts, ends, first, strict=True)
        if not (end - start == 1 and token in blank)
    ]
