"""The worker's side of a run in several processes: launch them through torch's elastic
launcher, relay rank 0's reports to the run's reporter, pass stops on, judge the end.

The work horse stays the run's one owner (lease, heartbeat, manifest, Redis, events); the
ranks only train. Rank 0 appends its reports to `.ranks/reports.jsonl`; the horse reads them
as they come and hands them to the same `RunReporter` a one-process run reports to. A stop
(cancel, warm stop) is written to `.ranks/stop`; rank 0 reads it before each step and the
ranks agree to stop at the same step. A rank that dies takes the group down (the launcher
allows no restarts): the run fails over to the lifecycle's retry, which resumes it from its
last checkpoint.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from pydantic import ValidationError

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log
from model_trainer.infra.atomic import write_text
from model_trainer.jobs.layout import RunFolder
from model_trainer.training.loop.loop import LoopOutcome
from model_trainer.training.run.hooks import RunReporter
from model_trainer.training.run.rank_messages import (
    RANK_ERROR_PREFIX,
    RANK_MODULE,
    REPORT,
    REPORTS,
    STOP,
    Checkpointed,
    Ended,
    Evaluated,
    Failed,
    Progressed,
    RankPlan,
    Report,
    Started,
    write_plan,
)

POLL_S = 0.2
"""How often the horse reads rank 0's reports and the run's stop flags."""


class ReportReader:
    """Rank 0's reports, read as they are appended (a line is taken once it is whole)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0

    def new(self) -> list[Report]:
        try:
            with self._path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        whole = data[: data.rfind(b"\n") + 1]
        self._offset += len(whole)
        reports: list[Report] = []
        for line in whole.splitlines():
            try:
                reports.append(REPORT.validate_json(line))
            except ValidationError as exc:
                raise AppError(
                    ErrorCode.INTERNAL_ERROR, f"rank 0 reported nonsense: {exc}"
                ) from exc
        return reports


def _relay(report: Report, reporter: RunReporter) -> LoopOutcome | None:
    """Hand one report to the reporter; the loop's outcome when it is the last."""
    if isinstance(report, Started):
        reporter.on_start(report.resumed_from)
    elif isinstance(report, Progressed):
        reporter.on_progress(report.progress)
    elif isinstance(report, Evaluated):
        reporter.on_eval(report.result)
    elif isinstance(report, Checkpointed):
        reporter.on_checkpoint(report.step, report.path, report.best)
    elif isinstance(report, Ended):
        return report.outcome
    elif isinstance(report, Failed):
        raise AppError(report.code, report.message)
    return None


def launcher_command(nproc: int, plan: Path) -> list[str]:
    """`torchrun` on one machine: a private rendezvous on a free port, no restarts (a failed
    group resumes from its checkpoint through the run's own retries)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "--max-restarts=0",
        "--monitor-interval=0.5",
        "-m",
        RANK_MODULE,
        str(plan),
    ]


def train_in_ranks(
    folder: RunFolder, plan: RankPlan, nproc: int, reporter: RunReporter, log: Log
) -> LoopOutcome:
    """Train the run in `nproc` processes and return how the loop ended (rank 0's word)."""
    scratch = folder.ranks
    shutil.rmtree(scratch, ignore_errors=True)  # an earlier start's reports and stop
    scratch.mkdir(parents=True)
    command = launcher_command(nproc, write_plan(scratch, plan))
    env = {**os.environ, "OMP_NUM_THREADS": str(plan.threads)}
    log.info("ranks_launching", nproc=nproc, threads_per_rank=plan.threads)
    launcher = subprocess.Popen(command, env=env)
    reader, outcome, stopping, said = ReportReader(scratch / REPORTS), None, False, ""
    try:
        while True:
            done = _wait(launcher, POLL_S)
            for report in reader.new():
                outcome = _relay(report, reporter) or outcome
            if done:
                said = _rank_errors(scratch, nproc) if launcher.returncode else ""
                break
            if not stopping and (end := reporter.should_stop()) is not None:
                write_text(scratch / STOP, str(end))  # rank 0 reads it before its next step
                log.info("ranks_stopping", end=str(end))
                stopping = True
    except BaseException:
        # Lease lost, Redis gone mid-report, the horse stopped cold: the ranks must not
        # train on (or write) for a run this process no longer owns.
        _kill(launcher)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # all it held went to the reporter
    return _judged(launcher.returncode, outcome, said, log)


def _wait(launcher: subprocess.Popen[bytes], timeout_s: float) -> bool:
    try:
        launcher.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False
    return True


def _kill(launcher: subprocess.Popen[bytes]) -> None:
    """The launcher dies at once; its ranks (each in its own session) see it gone and end."""
    if launcher.poll() is None:
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()


def _rank_errors(scratch: Path, nproc: int) -> str:
    """What each rank said as it failed; one killed outright (SIGKILL, the OOM killer)
    says nothing, and the others then report the connection it broke."""
    said: list[str] = []
    for rank in range(nproc):
        path = scratch / f"{RANK_ERROR_PREFIX}{rank}.error"
        try:
            said.append(f"rank {rank}: {path.read_text(encoding='utf-8', errors='replace')}")
        except OSError:
            said.append(f"rank {rank}: ended without a word (killed?)")
    return "; ".join(said)


def _judged(code: int, outcome: LoopOutcome | None, said: str, log: Log) -> LoopOutcome:
    """Rank 0's outcome when it reported one; otherwise the group failed (a rank died, or
    could not start): a transient failure the run's retries resume from its checkpoint."""
    if outcome is not None:
        if code != 0:  # rank 0 finished its part; another rank failed after it
            log.warning("ranks_ended_with_error", exit_code=code, end=str(outcome.end))
        return outcome
    because = f": {said}" if said else " (the worker's log names the rank)"
    raise AppError(
        ErrorCode.RANK_FAILED,
        f"a process of the run failed (the launcher exited with {code}){because}; the run "
        "resumes from its last checkpoint while retries remain",
    )
