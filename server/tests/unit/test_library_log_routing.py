"""What libraries log while a job runs goes to the service's log (stderr), not the job's."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
from pydantic import TypeAdapter
from transformers.utils import logging as hf_logging

from model_trainer.core.logging import Log, configure_logging, job_log_file
from model_trainer.plugin_hf import quiet_transformers

_LINE: TypeAdapter[dict[str, object]] = TypeAdapter(dict[str, object])
MASK_WARNING = (
    "The attention mask and the pad token id were not set. As a consequence, you may "
    "observe unexpected behavior. Please pass your input's `attention_mask` to obtain "
    "reliable results."
)


def test_a_transformers_warning_during_a_job_stays_out_of_its_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "test")
    quiet_transformers()  # as the worker does: transformers speaks through the root logger
    job_log = tmp_path / "logs.jsonl"
    with job_log_file(job_log):
        Log("training", run_id="run-x").info("evaluation_started")
        hf_logging.get_logger("transformers.generation.utils").warning(MASK_WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            # Earlier tests may have set up logging before pytest's per-test warning
            # recorder took `showwarning`: route warnings to logging again, in this block.
            logging.captureWarnings(False)
            logging.captureWarnings(True)
            warnings.warn("a library's own warning", UserWarning, stacklevel=1)
    lines = [_LINE.validate_json(line) for line in job_log.read_text(encoding="utf-8").splitlines()]
    assert [line["event"] for line in lines] == ["evaluation_started"]
    err = [_LINE.validate_json(line) for line in capfd.readouterr().err.splitlines() if line]
    loggers = {line.get("logger") for line in err}
    assert {"transformers.generation.utils", "py.warnings"} <= loggers, err
    assert any("attention_mask" in str(line["event"]) for line in err)
