"""Every registered plugin, built-in or installed, held to its contract by one suite."""

from __future__ import annotations

import math
import subprocess
import sys
from array import array
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter
from torch.nn import functional

from model_trainer.core.contracts.model import (
    Architecture,
    CachedDecoding,
    FineTunable,
    LanguageModel,
    SpecialTokens,
)
from model_trainer.core.contracts.tokenizer import TokenizerConfig, TokenizerTrainRequest
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject
from model_trainer.infra.atomic import FILE_MODE
from model_trainer.infra.plugins import PluginStatus
from model_trainer.tokenizers.corpus import iter_text_chunks
from model_trainer.tokenizers.hf_export import exported_special_tokens
from model_trainer.tokenizers.registry import discover_tokenizers
from model_trainer.training.config import Precision, TrainerSpec
from model_trainer.training.data import encode
from model_trainer.training.data.encode import encode_file
from model_trainer.training.inference.generation import sample
from model_trainer.training.loop.checkpoint import LAST, Checkpointer
from model_trainer.training.loop.loop import EvalResult, LoopEnd, TrainingData, train_loop
from model_trainer.training.loop.lora import LoraAdapter, LoraSettings
from model_trainer.training.loop.progress import Progress
from model_trainer.training.model_registry import discover_models
from plugins.hf_reference import hf_encode, hf_logits

pytestmark = pytest.mark.timeout(120)

TOKENIZERS = discover_tokenizers({})
MODELS = discover_models({})
EXAMPLE_DISTRIBUTION = "model-trainer-extras"

WORDS = "the king and queen of a quiet town spoke with every friend they met on long roads".split()
SAMPLE = "The quiet king spoke with a friend, they met on long roads."
SPACED = SAMPLE.replace("king ", "king   ")
"""The sample with a run of spaces, for the round trip."""
INEXACT_ROUND_TRIP = {
    # BERT's pre-tokenizer keeps no whitespace: the decoder puts one space between words and
    # joins common punctuation back, so only the characters outside whitespace come back.
    "wordpiece",
}
IDS_LIST = TypeAdapter(list[int])

GENERATION: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def _corpus() -> str:
    """Every word capitalised at some line start, with commas and full stops."""
    lines = []
    for i in range(600):
        words = [WORDS[(i + j * 7) % len(WORDS)] for j in range(4 + i % 9)]
        cut = len(words) // 2
        lines.append(" ".join(words[:cut]).capitalize() + ", " + " ".join(words[cut:]) + ".")
    return "\n".join(lines) + "\n"


class Trained(NamedTuple):
    folder: Path
    config: TokenizerConfig


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trained]:
    """Each tokenizer method trained once on the same small text."""
    root = tmp_path_factory.mktemp("tokenizers")
    train_file = root / "train.txt"
    train_file.write_text(_corpus(), encoding="utf-8")
    out: dict[str, Trained] = {}
    for name in TOKENIZERS.names():
        folder = root / name
        folder.mkdir()
        options = TOKENIZERS.options(name, {}, "options")
        asked = TokenizerConfig(method=name, vocab_size=300, min_frequency=1, options=options)
        try:  # as a request's arrival does: what the method refuses is never trained
            config = TOKENIZERS.get(name).check(asked)
        except AppError as exc:
            assert exc.code is ErrorCode.CONFIG_INVALID, exc
            continue
        request = TokenizerTrainRequest(train_file=train_file, out_dir=folder, threads=1, seed=1)
        artifact = TOKENIZERS.get(name).train(config, request)
        assert (folder / artifact.main_file).is_file()
        assert all((folder / f).is_file() for f in artifact.files)
        out[name] = Trained(folder, config)
    return out


def _trained(name: str, trained: dict[str, Trained]) -> Trained:
    if name not in trained:
        pytest.skip(f"{name} refuses to train (its check says so)")
    return trained[name]


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_every_installed_plugin_is_registered_and_none_is_broken() -> None:
    """The suite tests what is installed, nothing more: an outside author runs it beside
    their own package without the example package."""
    records = TOKENIZERS.records() + MODELS.records()
    broken = [f"{r.name}: {r.reason}" for r in records if r.status is not PluginStatus.OK]
    assert not broken
    origin = {r.name: r.distribution for r in records}
    assert origin["bpe"] == origin["gpt2"] == "model-trainer"
    assert origin["llama"] == origin["qwen2"] == "model-trainer"
    if _installed(EXAMPLE_DISTRIBUTION):
        assert origin["wordpiece"] == origin["gpt_neox"] == EXAMPLE_DISTRIBUTION


FRESH_ENCODE = (
    "import json, sys\nfrom pathlib import Path\n"
    "from model_trainer.tokenizers.registry import discover_tokenizers\n"
    "backend = discover_tokenizers({}).get(sys.argv[1])\n"
    "print(json.dumps(backend.encode(backend.load(Path(sys.argv[2])), sys.argv[3])))\n"
)


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_tokenizer_loads_here_and_in_a_fresh_process(
    name: str, trained: dict[str, Trained]
) -> None:
    backend = TOKENIZERS.get(name)
    handle = backend.load(_trained(name, trained).folder)
    info = backend.inspect(handle)
    ids = backend.encode(handle, SAMPLE)
    assert ids and all(0 <= i < info.vocab_size for i in ids)
    assert info.unk_id is None or info.unk_id not in ids  # every character was in training
    fresh = subprocess.run(
        [sys.executable, "-c", FRESH_ENCODE, name, str(_trained(name, trained).folder), SAMPLE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert fresh.returncode == 0, fresh.stderr[-800:]
    assert IDS_LIST.validate_json(fresh.stdout) == ids


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_tokenizer_round_trips_a_sample(name: str, trained: dict[str, Trained]) -> None:
    backend = TOKENIZERS.get(name)
    handle = backend.load(_trained(name, trained).folder)
    back = backend.decode(handle, backend.encode(handle, SPACED))
    if name in INEXACT_ROUND_TRIP:
        assert "".join(back.split()) == "".join(SPACED.split())
    else:
        assert back == SPACED


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_tokenizer_export_encodes_alike_in_transformers(
    name: str, trained: dict[str, Trained], tmp_path: Path
) -> None:
    """Holds for every method here: SentencePiece's export is rebuilt from its vocabulary,
    the others copy their `tokenizer.json`."""
    backend = TOKENIZERS.get(name)
    model, config = _trained(name, trained)
    files = backend.export_hf(model, config.options, tmp_path, 64)
    assert {"tokenizer.json", "tokenizer_config.json"} <= set(files)
    assert all((tmp_path / f).is_file() for f in files)
    assert hf_encode(tmp_path, SAMPLE) == backend.encode(backend.load(model), SAMPLE)


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_check_returns_what_training_applies_and_refusals_name_a_field(name: str) -> None:
    """What `check` returns is checked again unchanged; a vocabulary of two is refused
    naming `vocab_size`, or trained (then `check` says nothing of `vocab_size`)."""
    backend, options = TOKENIZERS.get(name), TOKENIZERS.options(name, {}, "options")
    for vocab_size in (2, 300):
        asked = TokenizerConfig(method=name, vocab_size=vocab_size, options=options)
        try:
            applied = backend.check(asked)
        except AppError as exc:
            assert exc.code is ErrorCode.CONFIG_INVALID
            assert exc.message.split(":")[0] in {"method", "vocab_size", "options"}
            continue
        assert backend.check(applied) == applied
        assert (applied.method, applied.vocab_size) == (name, vocab_size)


@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_special_tokens_take_the_lowest_ids_and_reach_the_export(
    name: str, trained: dict[str, Trained], tmp_path: Path
) -> None:
    """Specials (and the unknown token) are tokens of the vocabulary at ids 0, 1, ...; the
    export's bos, eos and pad name some of them, with the ids the trained tokenizer gives
    them, which is what a model's config and generation config record."""
    backend = TOKENIZERS.get(name)
    model, config = _trained(name, trained)
    handle = backend.load(model)
    info = backend.inspect(handle)
    ids: dict[str, int] = {}
    for token_id in range(info.vocab_size):
        ids.setdefault(handle.id_to_token(token_id), token_id)
    assert info.special_tokens and set(info.special_tokens) <= set(ids)
    reserved = {ids[t] for t in info.special_tokens} | ({info.unk_id} - {None})
    assert sorted(i for i in reserved if i is not None) == list(range(len(reserved)))
    backend.export_hf(model, config.options, tmp_path, 64)
    named = GENERATION.validate_json((tmp_path / "tokenizer_config.json").read_bytes())
    tokens = [named.get(key) for key in ("bos_token", "eos_token", "pad_token")]
    assert all(isinstance(t, str) and t in ids and ids[t] in reserved for t in tokens), tokens
    special = exported_special_tokens(tmp_path)
    exported = [special.bos_id, special.eos_id, special.pad_id]
    assert exported == [ids[str(t)] for t in tokens]
    assert all(handle.id_to_token(i) == t for i, t in zip(exported, tokens, strict=True) if i)


def _chunked_text(records: bool) -> str:
    """Lines of the corpus in groups of four: plain, indented, ending in a space, then a
    blank line; with characters no tokenizer here saw at line starts and ends. As records:
    one line each, a blank line after each (how structured corpora become text)."""
    rare = ["Z", "é", "日本", "🙂"]
    lines = _corpus().splitlines()
    parts: list[str] = []
    for i, line in enumerate(lines[:400]):
        if i % 8 == 2:
            line = rare[i % 4] + line + rare[(i + 1) % 4]
        if records:
            parts.append(line + "\n\n")
            continue
        parts.append(("  " if i % 4 == 1 else "") + line + (" " if i % 4 == 2 else "") + "\n")
        if i % 4 == 3:
            parts.append("\n")
    return "".join(parts)


@pytest.mark.parametrize(("workers", "records"), [(1, False), (2, False), (1, True)])
@pytest.mark.parametrize("name", TOKENIZERS.names())
def test_a_corpus_encodes_in_chunks_to_the_ids_of_the_whole_text(
    name: str,
    workers: int,
    records: bool,
    trained: dict[str, Trained],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dataset preparation encodes a file in pieces cut at line ends (in worker processes
    for byte-level BPE with two workers): the ids are the whole text's all the same."""
    monkeypatch.setattr(encode, "CHUNK_BYTES", 512)
    monkeypatch.setattr(encode, "TASK_CHUNKS", 3)
    monkeypatch.setattr(encode, "PARALLEL_MIN_BYTES", 0)
    backend = TOKENIZERS.get(name)
    handle = backend.load(_trained(name, trained).folder)
    text = _chunked_text(records)
    source = tmp_path / "text.txt"
    source.write_text(text, encoding="utf-8")
    assert len(list(iter_text_chunks(source, 512))) > 20
    encode_file(source, tmp_path / "ids.bin", handle, "I", lambda _size: None, workers)
    written = array("I", (tmp_path / "ids.bin").read_bytes()).tolist()
    whole = backend.encode(handle, text)
    assert written == whole, (len(written), len(whole))


@pytest.mark.parametrize(
    ("kind", "name"),
    [("tokenizer", n) for n in TOKENIZERS.names()] + [("model", n) for n in MODELS.names()],
)
def test_options_have_a_schema_and_refuse_unknown_keys(kind: str, name: str) -> None:
    registry = TOKENIZERS if kind == "tokenizer" else MODELS
    record = next(r for r in registry.records() if r.name == name)
    assert isinstance(record.options_schema, dict) and record.options_schema
    defaults = registry.options(name, {}, "options")
    assert registry.options(name, defaults, "options") == defaults
    with pytest.raises(AppError) as refused:
        registry.options(name, {"no_such_option": 1}, "options")
    assert refused.value.code is ErrorCode.CONFIG_INVALID
    assert "no_such_option" in refused.value.message


VOCAB = 50
_TOKENS: list[int] = [(i * 7 + i // 11) % VOCAB for i in range(4000)]
TOKENS = np.array(_TOKENS, dtype=np.uint16)
_PROBE: list[list[int]] = [[1, 5, 9, 13, 2, 7, 30, 44], [0, 3, 3, 8, 49, 12, 6, 1]]
PROBE = torch.tensor(_PROBE)


def _arch(name: str) -> Architecture:
    return Architecture(
        family=name,
        n_layer=2,
        n_head=2,
        n_embd=32,
        max_seq_len=32,
        vocab_size=VOCAB,
        dropout=0.0,
        options=MODELS.options(name, {}, "model.options"),
    )


def _build(name: str) -> LanguageModel:
    torch.manual_seed(0)
    return MODELS.get(name).build(_arch(name))


@pytest.mark.parametrize("name", MODELS.names())
def test_model_learns_a_step_and_counts_its_parameters(name: str) -> None:
    backend, arch = MODELS.get(name), _arch(name)
    model = _build(name)
    module = model.module
    module.train()
    logits = model.logits(PROBE)
    assert tuple(logits.shape) == (2, PROBE.size(1), VOCAB)
    loss = functional.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), PROBE[:, 1:].reshape(-1))
    torch.autograd.backward(loss)
    assert math.isfinite(loss.item())
    params = list(module.parameters())
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in params)
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)
    assert backend.parameter_count(arch) == sum(p.numel() for p in params)
    assert backend.flops_per_token(arch) >= 6 * backend.parameter_count(arch)


class StopAfter:
    """Loop hooks that ask to stop once `steps` are done (never, for None)."""

    def __init__(self, steps: int | None) -> None:
        self._steps = steps
        self._done = 0

    def on_start(self, resumed_from: int | None) -> None:
        pass

    def on_progress(self, progress: Progress) -> None:
        self._done = progress.step

    def on_eval(self, result: EvalResult) -> None:
        pass

    def on_checkpoint(self, step: int, path: str, best: bool) -> None:
        pass

    def should_stop(self) -> LoopEnd | None:
        stop = self._steps is not None and self._done >= self._steps
        return LoopEnd.WORKER_STOPPING if stop else None


def _train(name: str, folder: Path, stop: int | None) -> tuple[LanguageModel, int, int | None]:
    spec = TrainerSpec(
        max_steps=10,
        batch_size=4,
        learning_rate=3e-3,
        min_lr=3e-4,
        warmup_steps=2,
        eval_interval=5,
        eval_steps=1,
        checkpoint_interval=5,
        log_interval=5,
        seed=7,
    )
    model = _build(name)
    data = TrainingData(train=TOKENS[:3200], val=TOKENS[3200:])
    device = torch.device("cpu")
    hooks = StopAfter(stop)
    outcome = train_loop(
        model, _arch(name), spec, data, device, Precision.FP32, Checkpointer(folder), hooks, "{}"
    )
    return model, outcome.step, outcome.resumed_from


@pytest.mark.parametrize("name", MODELS.names())
def test_model_compiles_to_the_same_logits_and_learns(name: str) -> None:
    """`compile()` (what `trainer.compile` asks for) keeps the weights and what they compute."""
    model = _build(name)
    model.module.eval()
    with torch.no_grad():
        plain = model.logits(PROBE)
    model.compile()
    model.module.train()
    logits = model.logits(PROBE)
    assert torch.allclose(logits.detach(), plain, atol=1e-4)
    torch.autograd.backward(logits.float().pow(2).mean())
    assert all(p.grad is not None for p in model.module.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", MODELS.names())
def test_model_resumes_from_a_checkpoint_as_if_never_stopped(name: str, tmp_path: Path) -> None:
    whole, _, _ = _train(name, tmp_path / "whole", None)
    _half, stopped_at, _ = _train(name, tmp_path / "split", 5)
    assert stopped_at == 5 and (tmp_path / "split" / LAST).is_file()
    resumed, step, resumed_from = _train(name, tmp_path / "split", None)
    assert (step, resumed_from) == (10, 5)
    expected = dict(whole.module.named_parameters())
    for key, value in resumed.module.named_parameters():
        assert torch.allclose(value, expected[key], atol=1e-6), key


@pytest.mark.parametrize("name", MODELS.names())
def test_model_export_is_what_transformers_loads(name: str, tmp_path: Path) -> None:
    backend, arch = MODELS.get(name), _arch(name)
    model = _build(name)
    model.module.eval()
    with torch.no_grad():
        ours = model.logits(PROBE)
    special = SpecialTokens(bos_id=3, eos_id=4, pad_id=5)
    files = backend.export(model, arch, tmp_path, special)
    assert {"config.json", "model.safetensors"} <= set(files)
    # The tokenizer's special ids, where transformers reads them when generating.
    generation = GENERATION.validate_json((tmp_path / "generation_config.json").read_bytes())
    assert (generation.get("bos_token_id"), generation.get("eos_token_id")) == (3, 4)
    assert generation.get("pad_token_id") == 5
    assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == FILE_MODE, "as open() makes"
    assert torch.allclose(hf_logits(tmp_path, PROBE), ours, atol=1e-5)
    loaded = backend.load(tmp_path)
    with torch.no_grad():
        assert torch.allclose(loaded.logits(PROBE), ours, atol=1e-5)
    new = sample(loaded, [1, 2, 3], 6, 0.8, 10, 1, arch.max_seq_len)
    assert len(new) == 6 and all(0 <= i < VOCAB for i in new)


@pytest.mark.parametrize("name", MODELS.names())
def test_a_fine_tunable_family_reads_its_own_export_back(name: str, tmp_path: Path) -> None:
    """`FineTunable` is optional: a family that has it reads its export's `config.json` back
    as the architecture (and leaves other families' alone), loads the weights ready to train
    computing as exported, and adapts its default LoRA modules."""
    backend, arch = MODELS.get(name), _arch(name)
    if not isinstance(backend, FineTunable):
        pytest.skip(f"{name} does not fine-tune")
    model = _build(name)
    model.module.eval()
    with torch.no_grad():
        ours = model.logits(PROBE)
    backend.export(model, arch, tmp_path)
    config = GENERATION.validate_json((tmp_path / "config.json").read_bytes())
    read = backend.architecture_of(config)
    assert read is not None and read.family == name
    shape = (read.n_layer, read.n_head, read.n_embd, read.max_seq_len, read.vocab_size)
    assert shape == (arch.n_layer, arch.n_head, arch.n_embd, arch.max_seq_len, arch.vocab_size)
    assert backend.parameter_count(read) == backend.parameter_count(arch)
    assert backend.architecture_of({"model_type": "no-such-family"}) is None
    tuned = backend.from_pretrained(tmp_path, read)
    assert tuned.module.training
    assert sum(p.numel() for p in tuned.module.parameters()) == backend.parameter_count(arch)
    tuned.module.eval()
    with torch.no_grad():
        assert torch.allclose(tuned.logits(PROBE), ours, atol=1e-5)
    adapter = LoraAdapter.attach(tuned.module, LoraSettings(2, 4, 0.0, backend.lora_targets()))
    assert 0 < adapter.trainable_parameters() < backend.parameter_count(arch) / 2


@pytest.mark.parametrize("name", MODELS.names())
def test_a_cached_decoding_family_scores_as_the_whole_text_does(name: str) -> None:
    """A family that offers `CachedDecoding` gives, token after token from its cache, the
    scores a whole-text forward gives; left-padded rows of a batch score as rows alone."""
    model = _build(name)
    if not isinstance(model, CachedDecoding):
        pytest.skip(f"{name} generates without a cache (it need not offer one)")
    model.module.eval()
    with torch.no_grad():
        whole = model.logits(PROBE)
        width = 3
        positions = torch.arange(width).expand(2, width)
        first, past = model.forward_cached(PROBE[:, :width], None, None, positions)
        steps = [first]
        for place in range(width, PROBE.size(1)):
            at = torch.full((2, 1), place)
            logits, past = model.forward_cached(PROBE[:, place : place + 1], past, None, at)
            steps.append(logits)
        assert torch.allclose(torch.cat(steps, dim=1), whole, atol=1e-4)
        # Row 0 with two places of padding before it, row 1 whole: row 0 scores as alone.
        alone, alone_past = model.forward_cached(PROBE[:1, :4], None, None, torch.arange(4)[None])
        pad = [
            (
                torch.cat([k.new_zeros(k.shape[0], k.shape[1], 2, k.shape[3]), k], dim=2),
                torch.cat([v.new_zeros(v.shape[0], v.shape[1], 2, v.shape[3]), v], dim=2),
            )
            for k, v in alone_past
        ]
        _, full_past = model.forward_cached(PROBE[1:, :6], None, None, torch.arange(6)[None])
        batch = [
            (torch.cat([a, b]), torch.cat([c, d]))
            for (a, c), (b, d) in zip(pad, full_past, strict=True)
        ]
        mask = torch.ones(2, 7, dtype=torch.long)
        mask[0, :2] = 0
        ids = torch.stack([PROBE[0, 4:5], PROBE[1, 6:7]])
        places = torch.stack([torch.full((1,), 4), torch.full((1,), 6)])
        logits, _ = model.forward_cached(ids, batch, mask, places)
        assert torch.allclose(logits[0, -1], whole[0, 4], atol=1e-4)
        assert torch.allclose(logits[1, -1], whole[1, 6], atol=1e-4)
