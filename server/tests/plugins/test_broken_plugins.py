"""Plugins installed wrong: broken ones are listed with the reason, a name claimed twice
refuses to load until one distribution is preferred.

Each case installs a throwaway distribution (a `*.dist-info` folder with `METADATA` and
`entry_points.txt`, plus its modules) in a folder that only a child process sees on
`PYTHONPATH`, so this process's plugins stay as they are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from model_trainer.infra.plugins import PluginRecord, PluginStatus

pytestmark = pytest.mark.timeout(120)

BROKEN_MODULE = """
class Incomplete:
    def name(self) -> str:
        return "incomplete"


class Angry:
    def __init__(self) -> None:
        raise ValueError("refuses to start")
"""

RIVAL_MODULE = """
from model_trainer.plugins.tokenizers.bpe import BpeBackend


class RivalBpe(BpeBackend):
    pass


class Shouting(BpeBackend):
    def name(self) -> str:
        return "Llama3"
"""

PROBE = """
import sys
from pathlib import Path

from pydantic import BaseModel

from model_trainer.core.errors import AppError
from model_trainer.infra.plugins import PluginRecord
from model_trainer.tokenizers.registry import discover_tokenizers


class Seen(BaseModel):
    error_code: str | None = None
    error_message: str | None = None
    records: list[PluginRecord] = []
    preferred: dict[str, list[PluginRecord]] = {}


seen = Seen()
try:
    seen.records = discover_tokenizers({}).records()
except AppError as exc:
    seen.error_code, seen.error_message = exc.code.value, exc.message
for dist in sys.argv[2:]:
    seen.preferred[dist] = discover_tokenizers({"bpe": dist}).records()
Path(sys.argv[1]).write_text(seen.model_dump_json(), encoding="utf-8")
"""


class Seen(BaseModel):
    """What the child process found (the probe's own model, read back)."""

    error_code: str | None = None
    error_message: str | None = None
    records: list[PluginRecord] = []
    preferred: dict[str, list[PluginRecord]] = {}


def _install(site: Path, dist: str, entry_points: str, modules: dict[str, str]) -> None:
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    metadata = f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n"
    (info / "METADATA").write_text(metadata, encoding="utf-8")
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    for name, source in modules.items():
        (site / f"{name}.py").write_text(source, encoding="utf-8")


def _probe(site: Path, *prefer: str) -> Seen:
    out = site.parent / "seen.json"
    env = os.environ | {"PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *prefer],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-1500:]
    return Seen.model_validate_json(out.read_text(encoding="utf-8"))


def _by_name(records: list[PluginRecord]) -> dict[str, PluginRecord]:
    return {r.name: r for r in records}


def test_broken_plugins_are_listed_with_the_reason_and_the_rest_work(tmp_path: Path) -> None:
    site = tmp_path / "site"
    entry_points = (
        "[model_trainer.tokenizers]\n"
        "exploding = mt_probe_explodes:Backend\n"
        "incomplete = mt_probe_broken:Incomplete\n"
        "angry = mt_probe_broken:Angry\n"
        "Llama3 = mt_probe_rival:Shouting\n"
    )
    modules = {
        "mt_probe_explodes": 'raise RuntimeError("boom at import")\n',
        "mt_probe_broken": BROKEN_MODULE,
        "mt_probe_rival": RIVAL_MODULE,
    }
    _install(site, "broken-plugins", entry_points, modules)
    seen = _probe(site)
    assert seen.error_code is None, seen.error_message
    records = _by_name(seen.records)
    for name, reason in [
        ("exploding", "RuntimeError: boom at import"),
        ("incomplete", "missing: options_model, check, train, load, export_hf"),
        ("angry", "ValueError: refuses to start"),
        ("Llama3", "its name 'Llama3' can never be requested"),
    ]:
        record = records[name]
        assert record.status is PluginStatus.BROKEN and record.distribution == "broken-plugins"
        assert record.reason is not None and reason in record.reason, record.reason
        assert record.options_schema is None
    working = {n for n, r in records.items() if r.status is PluginStatus.OK}
    assert {"bpe", "char", "sentencepiece", "wordpiece"} <= working


def test_a_name_claimed_by_two_distributions_needs_a_preference(tmp_path: Path) -> None:
    site = tmp_path / "site"
    entry_points = "[model_trainer.tokenizers]\nbpe = mt_probe_rival:RivalBpe\n"
    _install(site, "rival-bpe", entry_points, {"mt_probe_rival": RIVAL_MODULE})
    seen = _probe(site, "model-trainer", "rival-bpe")
    assert seen.error_code == "PLUGIN_CONFLICT" and seen.error_message is not None
    assert "model-trainer and rival-bpe" in seen.error_message
    assert "PLUGINS__PREFER" in seen.error_message
    for dist in ("model-trainer", "rival-bpe"):
        bpe = _by_name(seen.preferred[dist])["bpe"]
        assert bpe.status is PluginStatus.OK and bpe.distribution == dist
        loser = "rival-bpe" if dist == "model-trainer" else "model-trainer"
        assert bpe.passed_over == [loser]
    assert all(not r.passed_over for r in seen.preferred["rival-bpe"] if r.name != "bpe")
