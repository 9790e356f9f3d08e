"""A run's evaluation figures beyond the loss: bits per byte of its validation text, and
regressions against the run it names as its baseline."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from model_trainer.infra.storage import storage
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.training.data.dataset import DatasetInfo
from model_trainer.training.data.sampler import TokenArray, to_long_tensor
from model_trainer.training.loop.sample_stats import SampleStats
from model_trainer.training.run.figures import (
    Figures,
    Regression,
    bits_per_byte,
    regressions,
)
from model_trainer.training.run.manifest import RUN_MANIFESTS, EvalSplit, RunManifest
from model_trainer.training.run.samples import Decode

DECODE_CHUNK = 1 << 20
"""Token ids decoded at once when a dataset's text bytes must be measured again."""


def val_bits_per_byte(manifest: RunManifest, loss: float) -> float | None:
    """The validation loss as bits per byte of the validation text (None without the
    dataset's byte count)."""
    info = manifest.dataset
    if info is None:
        return None
    return bits_per_byte(loss, info.val_tokens, info.val_bytes)


def decoded_bytes(tokens: TokenArray, decode: Decode) -> int:
    """UTF-8 bytes of the text `tokens` decode to (decoded in chunks: a chunk's edge may
    split a character; its bytes are counted the same way on both sides)."""
    ids = to_long_tensor(tokens)
    total = 0
    for start in range(0, len(ids), DECODE_CHUNK):
        chunk: list[int] = ids[start : start + DECODE_CHUNK].tolist()
        total += len(decode(chunk).encode("utf-8", errors="surrogatepass"))
    return total


def with_val_bytes(info: DatasetInfo, val: TokenArray, decode: Decode) -> DatasetInfo:
    """`info` with the validation text's bytes: a dataset cached before they were recorded
    has them measured by decoding its ids (exact for byte-level tokenizers)."""
    if info.val_bytes is not None:
        return info
    measured = info.model_copy()
    measured.val_bytes = decoded_bytes(val, decode)
    return measured


def final_figures(manifest: RunManifest) -> Figures:
    """The run's final validation figures, as a finished evaluation is compared."""
    metrics = manifest.metrics
    return Figures(
        loss=metrics.final_val_loss,
        perplexity=metrics.final_val_perplexity,
        bits_per_byte=metrics.final_val_bits_per_byte,
        sample_stats=metrics.sample_stats,
    )


class _Evaluated(BaseModel):
    """What comparing reads of an evaluation's `metrics.json` (the rest is ignored)."""

    model_config = ConfigDict(extra="ignore")

    split: str
    corpus_path: str | None = None
    loss: float
    perplexity: float
    bits_per_byte: float | None = None
    sample_stats: SampleStats | None = None

    def matches(self, split: EvalSplit, corpus_path: str | None) -> bool:
        if self.corpus_path is not None:  # files from before "corpus" said "val" for one
            return (split, corpus_path) == ("corpus", self.corpus_path)
        return (self.split, corpus_path) == (split, None)


def baseline_figures(
    layout: ArtifactLayout, run_id: str, split: EvalSplit, corpus_path: str | None
) -> tuple[Figures, bool] | None:
    """The baseline run's latest completed evaluation of the same split (or corpus); for
    the validation split without one, its final validation figures; None when it has
    neither (or is gone). With them, whether they are the run's final figures (its samples
    are those of training, not an evaluation's)."""
    folder = layout.run(run_id)
    storage().pull(folder.manifest)
    for eval_id in reversed(folder.evaluations()):
        try:
            metrics = _Evaluated.model_validate_json(
                folder.evaluation(eval_id).metrics.read_bytes()
            )
        except (OSError, ValidationError):
            continue  # not finished, or failed
        if metrics.matches(split, corpus_path):
            figures = Figures(
                loss=metrics.loss,
                perplexity=metrics.perplexity,
                bits_per_byte=metrics.bits_per_byte,
                sample_stats=metrics.sample_stats,
            )
            return figures, False
    manifest = RUN_MANIFESTS.read(folder.manifest)
    if manifest is None or split != "val":
        return None
    return final_figures(manifest), True


def run_regressions(
    layout: ArtifactLayout,
    baseline_run_id: str | None,
    figures: Figures,
    split: EvalSplit,
    corpus_path: str | None = None,
    final: bool = False,
) -> list[Regression]:
    """`figures` (a run's `final` figures, or an evaluation's) worse than the baseline
    run's of the same split; none without a baseline. Samples compare only when both were
    made alike (both at the end of training, or both by an evaluation's fixed prompts)."""
    if baseline_run_id is None:
        return []
    found = baseline_figures(layout, baseline_run_id, split, corpus_path)
    if found is None:
        return []
    theirs, their_final = found
    if their_final != final:
        theirs = Figures(
            loss=theirs.loss, perplexity=theirs.perplexity, bits_per_byte=theirs.bits_per_byte
        )
    return regressions(figures, theirs, baseline_run_id)
