"""One process of a run trained by several (`trainer.nproc`): what `torch.distributed.run`
starts in each rank, given the plan the work horse wrote.

Every rank builds the same model from the run's manifest, joins the process group (gloo on
CPU, NCCL on CUDA) and runs the ordinary training loop on its share of each batch. Rank 0
alone writes checkpoints and appends reports for the horse, which owns the run. A SIGTERM
(from the launcher, or a service manager) is a warm stop, agreed by all ranks at one step.
A rank whose launcher or work horse is gone ends at once: it has nobody to train for.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import FrameType

import torch
import torch.distributed as dist

from model_trainer.core.errors import AppError
from model_trainer.core.logging import Log, configure_logging
from model_trainer.core.settings import Settings
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.jobs.stopping import StopRequest
from model_trainer.training.data.dataset import load_tokens
from model_trainer.training.loop.checkpoint import Checkpointer
from model_trainer.training.loop.device import (
    pick_device,
    prepare_device,
    set_threads,
    wants_compile,
)
from model_trainer.training.loop.loop import EvalResult, LoopEnd, TrainingData, train_loop
from model_trainer.training.loop.parallel import Replicas
from model_trainer.training.loop.progress import Progress
from model_trainer.training.model_registry import discover_models
from model_trainer.training.run.manifest import RUN_MANIFESTS
from model_trainer.training.run.rank_messages import (
    RANK_ERROR_PREFIX,
    REPORTS,
    STOP,
    Checkpointed,
    Ended,
    Evaluated,
    Failed,
    Progressed,
    Report,
    Started,
    read_plan,
)
from model_trainer.training.run.runner import initial_model

_log = Log("training")
MAX_WORD = 400
"""Characters of a failed rank's error that reach the run's message."""
WATCH_S = 0.5
GROUP_TIMEOUT = timedelta(minutes=10)
"""How long a collective waits for a silent rank (a long evaluation or checkpoint on rank 0
is silence too) before the group gives up."""


class RankHooks:
    """The loop's hooks in a rank: rank 0 appends reports for the horse and reads its stop
    request; every rank turns its own SIGTERM into a warm stop."""

    def __init__(self, scratch: Path | None, signalled: StopRequest) -> None:
        self._scratch = scratch
        self._signalled = signalled

    def report(self, report: Report) -> None:
        if self._scratch is None:
            return
        with (self._scratch / REPORTS).open("a", encoding="utf-8") as handle:
            handle.write(report.model_dump_json() + "\n")

    def on_start(self, resumed_from: int | None) -> None:
        self.report(Started(resumed_from=resumed_from))

    def on_progress(self, progress: Progress) -> None:
        self.report(Progressed(progress=progress))

    def on_eval(self, result: EvalResult) -> None:
        self.report(Evaluated(result=result))

    def on_checkpoint(self, step: int, path: str, best: bool) -> None:
        self.report(Checkpointed(step=step, path=path, best=best))

    def should_stop(self) -> LoopEnd | None:
        if self._scratch is not None:
            try:
                return LoopEnd((self._scratch / STOP).read_text(encoding="utf-8").strip())
            except FileNotFoundError:
                pass
        return LoopEnd.WORKER_STOPPING if self._signalled.requested() else None


def _watch_parents(worker_pid: int) -> None:
    """End this process when its launcher or the work horse is gone (killed cold): the
    ranks run in sessions of their own, out of reach of a signal to the horse's group."""
    launcher = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(WATCH_S)
            try:
                os.kill(worker_pid, 0)
            except ProcessLookupError:
                _log.warning("rank_orphaned", gone="work horse", pid=worker_pid)
                os._exit(1)
            if os.getppid() != launcher:
                _log.warning("rank_orphaned", gone="launcher", pid=launcher)
                os._exit(1)

    threading.Thread(target=watch, name="rank-watch", daemon=True).start()


def _on_sigterm(signalled: StopRequest) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        signalled.request(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def train_rank(settings: Settings, plan_path: Path) -> None:
    plan = read_plan(plan_path)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    signalled = StopRequest()
    _on_sigterm(signalled)
    _watch_parents(plan.worker_pid)
    layout = ArtifactLayout(Path(plan.artifacts_root))
    folder = layout.run(plan.run_id)
    hooks = RankHooks(plan_path.parent if rank == 0 else None, signalled)
    manifest = RUN_MANIFESTS.read(folder.manifest)
    if manifest is None or manifest.device is None:
        raise RuntimeError(f"run {plan.run_id} has no manifest with its device")
    spec, arch = manifest.config.trainer, manifest.architecture
    set_threads(plan.threads)
    device = pick_device(spec.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    prepare_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=GROUP_TIMEOUT)
    try:
        backend = discover_models(settings.plugins.prefer).get(arch.family)
        torch.manual_seed(spec.seed)  # the same initial weights in every rank
        model, adapter = initial_model(settings, layout, manifest, backend)
        if wants_compile(spec.compile, device):
            model.compile()
        data = TrainingData(
            train=load_tokens(Path(plan.train_path), plan.dtype),
            val=load_tokens(Path(plan.val_path), plan.dtype),
        )
        try:
            outcome = train_loop(
                model,
                arch,
                spec,
                data,
                device,
                manifest.device.precision,
                Checkpointer(folder.checkpoints, trainable_only=adapter is not None),
                hooks,
                manifest.config.model_dump_json(),
                Replicas(rank, world),
            )
        except AppError as exc:
            hooks.report(Failed(code=exc.code, message=exc.message))
            raise
        hooks.report(Ended(outcome=outcome))
    finally:
        dist.destroy_process_group()


def _leave_word(scratch: Path, exc: BaseException) -> None:
    """What ended this rank, for the work horse's account of the group's failure."""
    rank = os.environ.get("RANK", "x")
    with contextlib.suppress(OSError):
        said = f"{type(exc).__name__}: {exc}"[:MAX_WORD]
        (scratch / f"{RANK_ERROR_PREFIX}{rank}.error").write_text(said, encoding="utf-8")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "model-trainer-rank")
    plan = Path(sys.argv[1])
    try:
        train_rank(settings, plan)
    except BaseException as exc:
        _log.exception("rank_failed", rank=os.environ.get("RANK", "?"))
        _leave_word(plan.parent, exc)
        raise


if __name__ == "__main__":
    main()
