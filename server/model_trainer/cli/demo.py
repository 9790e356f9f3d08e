"""`model-trainer demo`: the local stack, then a tokenizer and a small model trained through
the API with the same progress display as `--follow`, a sample, and where the files are.

The corpus is drawn from Python's own standard library, so the demo needs no download.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from rich.text import Text

from model_trainer.cli.session import SESSION
from model_trainer.cli.stack import LocalStack
from model_trainer.cli.watch import RunWatch, TokenizerWatch
from model_trainer.client.api import ApiClient
from model_trainer.client.errors import ApiError
from model_trainer.client.text import size
from model_trainer.client.views import EncodeView, GenerateView, QueuedView
from model_trainer.core.job_status import JobStatus
from model_trainer.core.json_types import JsonObject
from model_trainer.core.settings import Settings
from model_trainer.infra.atomic import write_text

DEMO_CORPUS = "demo/python-stdlib.txt"
DEMO_CORPUS_BYTES = 6 * 1024 * 1024
"""Enough text for a meaningful vocabulary, small enough to train in seconds."""
DEMO_STEPS = 300


def build_demo_corpus(corpus_root: Path) -> Path:
    """Concatenate standard-library sources (sorted, so every machine gets the same kind)."""
    target = corpus_root / DEMO_CORPUS
    if target.is_file():
        return target
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    size = 0
    for path in sorted(stdlib.glob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(text)
        size += len(text)
        if size >= DEMO_CORPUS_BYTES:
            break
    write_text(target, "\n".join(parts))
    return target


def tokenizer_body() -> JsonObject:
    return {
        "method": "bpe",
        "vocab_size": 4096,
        "min_frequency": 2,
        "corpus_path": DEMO_CORPUS,
        "holdout_fraction": 0.1,
        "seed": 42,
    }


def run_body(tokenizer_id: str) -> JsonObject:
    return {
        "model": {"family": "gpt2", "size": "nano", "max_seq_len": 128},
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": DEMO_CORPUS},
        "trainer": {
            "max_steps": DEMO_STEPS,
            "batch_size": 8,
            "warmup_steps": 30,
            "eval_interval": 100,
            "eval_steps": 10,
            "checkpoint_interval": 100,
        },
    }


def walk_through(client: ApiClient, artifacts_root: Path) -> int:
    """Tokenizer, then model, then a sample; 0 when all went well."""
    out = SESSION.out
    queued = client.post(QueuedView, "/tokenizers/train", tokenizer_body())
    tokenizer_id = queued.tokenizer_id or ""
    out.print(f"training tokenizer {tokenizer_id} (byte-level BPE, vocab 4096)")
    tokenizer_watch = TokenizerWatch(client, tokenizer_id, out, every_line=False)
    tok = tokenizer_watch.follow()
    tokenizer_watch.summarize(tok)
    if tok.status is not JobStatus.COMPLETED:
        return 1
    sample = "def train(model, data):"
    encoded = client.post(EncodeView, f"/tokenizers/{tokenizer_id}/encode", {"text": sample})
    out.print(Text(f"  {sample!r} -> {encoded.tokens}"), soft_wrap=True)

    run_id = client.post(QueuedView, "/runs/train", run_body(tokenizer_id)).run_id or ""
    out.print(f"training model {run_id} (GPT-2 nano, {DEMO_STEPS} steps)")
    run_watch = RunWatch(client, run_id, out, every_line=False)
    run = run_watch.follow()
    run_watch.summarize(run)
    if run.status is not JobStatus.COMPLETED:
        return 1
    body: JsonObject = {"prompt": "def ", "max_new_tokens": 80, "temperature": 0.8, "seed": 1}
    generated = client.post(GenerateView, f"/runs/{run_id}/generate", body)
    out.print("sample from the model (prompt 'def '):")
    out.print(Text("  " + ("def " + generated.text).replace("\n", "\n  ")), soft_wrap=True)
    out.print(f"tokenizer: {artifacts_root / 'tokenizers' / tokenizer_id}")
    out.print(
        f"model:     {artifacts_root / 'models' / run_id}  (export/ loads with transformers; "
        "logs.jsonl, metrics.jsonl, manifest.json)"
    )
    return 0


def run_demo(settings: Settings, host: str, port: int, keep_running: bool) -> int:
    corpus = build_demo_corpus(settings.corpus_root)
    SESSION.out.print(f"demo corpus: {corpus} ({size(corpus.stat().st_size)} of Python sources)")
    with LocalStack(settings, host, port, workers=1) as stack:
        stack.announce()
        with ApiClient(stack.base, settings.security.api_key) as client:
            try:
                code = walk_through(client, settings.artifacts_folder.resolve())
            except ApiError as exc:
                SESSION.err.print(Text(f"error: {exc.one_line()}", style="red"))
                code = 1
        if keep_running and code == 0:
            SESSION.out.print("serving until Ctrl-C")
            stack.serve_until_stopped()
        return code
