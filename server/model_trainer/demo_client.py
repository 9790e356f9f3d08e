"""The demo's walk through the API: a tokenizer, then a small model, with progress shown."""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from pydantic import BaseModel

from model_trainer.api.schemas.runs import GeneratePublic, GenerateRequest, RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import (
    EncodePublic,
    EncodeRequest,
    TokenizerCreate,
    TokenizerPublic,
    TokenizerQueued,
)
from model_trainer.core.contracts.tokenizer import TokenizerMethod
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec

BAR_WIDTH = 30
DEMO_STEPS = 300


def request(method: str, url: str, body: BaseModel | None = None) -> tuple[int, bytes]:
    """One HTTP call to the local API; (0, b"") when nothing answers."""
    parts = urlsplit(url)
    data = body.model_dump_json().encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        conn.request(method, target, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


class DemoClient:
    """Drives the API like a person would and narrates on `out`."""

    def __init__(self, base: str, out: TextIO) -> None:
        self._base = base
        self._out = out
        self._tty = out.isatty()
        self._last_bucket = -1

    def say(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def _bar(self, fraction: float, text: str) -> None:
        """A progress bar in place on a terminal; a line per tenth elsewhere."""
        filled = int(BAR_WIDTH * min(max(fraction, 0.0), 1.0))
        line = f"  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {text}"
        if self._tty:
            self._out.write("\r" + line.ljust(100))
            self._out.flush()
        elif int(fraction * 10) != self._last_bucket:
            self._last_bucket = int(fraction * 10)
            self.say(line)

    def run(self, artifacts_root: Path, corpus_path: str) -> int:
        tokenizer_id = self.train_tokenizer(corpus_path)
        if tokenizer_id is None:
            return 1
        run_id = self.train_model(tokenizer_id, corpus_path)
        if run_id is None:
            return 1
        status, raw = request(
            "POST",
            f"{self._base}/runs/{run_id}/generate",
            GenerateRequest(prompt="def ", max_new_tokens=80, temperature=0.8, top_k=40, seed=1),
        )
        if status == 200:
            sample = GeneratePublic.model_validate_json(raw)
            self.say("sample from the model (prompt 'def '):")
            self.say("  " + ("def " + sample.text).replace("\n", "\n  "))
        self.say(f"tokenizer: {artifacts_root / 'tokenizers' / tokenizer_id}")
        self.say(
            f"model:     {artifacts_root / 'models' / run_id}  (export/ loads with "
            "transformers; logs.jsonl, metrics.jsonl, manifest.json)"
        )
        return 0

    def train_tokenizer(self, corpus_path: str) -> str | None:
        body = TokenizerCreate(
            method=TokenizerMethod.BPE,
            vocab_size=4096,
            min_frequency=2,
            corpus_path=corpus_path,
            holdout_fraction=0.1,
            seed=42,
        )
        status, raw = request("POST", self._base + "/tokenizers/train", body)
        if status != 202:
            self.say(f"tokenizer request refused ({status}): {raw.decode(errors='replace')}")
            return None
        tokenizer_id = TokenizerQueued.model_validate_json(raw).tokenizer_id
        self.say(f"training tokenizer {tokenizer_id} (byte-level BPE, vocab 4096)")
        started = time.monotonic()
        while True:
            status, raw = request("GET", f"{self._base}/tokenizers/{tokenizer_id}")
            view = TokenizerPublic.model_validate_json(raw) if status == 200 else None
            if view is not None and view.status in ("completed", "failed"):
                break
            self._bar(0.0, f"{view.status if view else status} {time.monotonic() - started:5.1f} s")
            time.sleep(0.5)
        self._bar(1.0, f"{view.status} {time.monotonic() - started:5.1f} s")
        self.say("")
        if view.stats is None:
            self.say(f"tokenizer failed: {view.message}")
            return None
        st = view.stats
        if st.tokens_per_char is not None and st.tokens_per_word is not None:
            self.say(
                f"  vocab {st.vocab_size}, {st.tokens_per_char:.3f} tokens/char, "
                f"{st.tokens_per_word:.2f} tokens/word on the holdout"
            )
        status, raw = request(
            "POST",
            f"{self._base}/tokenizers/{tokenizer_id}/encode",
            EncodeRequest(text="def train(model, data):"),
        )
        if status == 200:
            tokens = EncodePublic.model_validate_json(raw).tokens
            self.say(f"  'def train(model, data):' -> {tokens}")
        return tokenizer_id

    def train_model(self, tokenizer_id: str, corpus_path: str) -> str | None:
        body = RunConfig(
            model=ModelSpec(size="nano", max_seq_len=128),
            data=DataSpec(tokenizer_id=tokenizer_id, corpus_path=corpus_path),
            trainer=TrainerSpec(
                max_steps=DEMO_STEPS,
                batch_size=8,
                warmup_steps=30,
                eval_interval=100,
                eval_steps=10,
                checkpoint_interval=100,
            ),
        )
        status, raw = request("POST", self._base + "/runs/train", body)
        if status != 202:
            self.say(f"run request refused ({status}): {raw.decode(errors='replace')}")
            return None
        run_id = RunQueued.model_validate_json(raw).run_id
        self.say(f"training model {run_id} (GPT-2 nano, {DEMO_STEPS} steps)")
        self._last_bucket = -1
        while True:
            status, raw = request("GET", f"{self._base}/runs/{run_id}")
            view = RunPublic.model_validate_json(raw) if status == 200 else None
            if view is None:
                time.sleep(0.5)
                continue
            p = view.progress
            loss = f"loss {p.train_loss:.3f}" if p.train_loss is not None else view.message or ""
            rate = f"{p.tokens_per_s:,.0f} tok/s" if p.tokens_per_s else ""
            eta = f"ETA {p.eta_s:.0f} s" if p.eta_s is not None else ""
            self._bar(
                p.step / max(p.max_steps, 1), f"step {p.step}/{p.max_steps} {loss} {rate} {eta}"
            )
            if view.status in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.5)
        self.say("")
        if view.status != "completed":
            self.say(f"run {view.status}: {view.message}")
            return None
        self.say(
            f"  final val loss {view.metrics.final_val_loss:.3f} "
            f"(perplexity {view.metrics.final_val_perplexity:.1f})"
        )
        return run_id
