"""The parts of a run in several processes that need no process group: each rank's share of
a batch, the request's checks, the memory estimate, and reading rank 0's reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from model_trainer.core.contracts.model import Architecture
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.settings import LimitSettings
from model_trainer.infra.workers import DeviceCapacity
from model_trainer.training.config import Precision, TrainerSpec
from model_trainer.training.data.sampler import WindowSampler
from model_trainer.training.loop.device import DeviceInfo, check_ranks
from model_trainer.training.loop.progress import Progress
from model_trainer.training.model_registry import discover_models
from model_trainer.training.run.budget import judge_memory, memory_refusal
from model_trainer.training.run.rank_messages import Failed, Progressed, Started
from model_trainer.training.run.ranks import ReportReader, launcher_command
from model_trainer.training.run.runner import rank_threads


def _tokens() -> np.ndarray[tuple[int], np.dtype[np.uint16]]:
    return np.arange(5000, dtype=np.uint16)


def test_the_ranks_windows_are_disjoint_and_together_one_process_s() -> None:
    one = WindowSampler(_tokens(), 16, 8, seed=3)
    ranks = [WindowSampler(_tokens(), 16, 8, seed=3, rank=r, world=4) for r in range(4)]
    for _ in range(5):
        x, _y = one.next()
        shares = [sampler.next()[0] for sampler in ranks]
        assert all(share.shape == (2, 16) for share in shares)
        assert torch.equal(torch.cat(shares), x)


def test_a_sampler_refuses_a_batch_that_does_not_split() -> None:
    with pytest.raises(ValueError, match="rank 0 of 3"):
        WindowSampler(_tokens(), 16, 8, seed=3, rank=0, world=3)


def test_nproc_must_split_the_batch_and_stay_in_bounds() -> None:
    assert TrainerSpec(batch_size=8, nproc=4).nproc == 4
    with pytest.raises(ValidationError, match="batch_size 9 does not split over nproc 2"):
        TrainerSpec(batch_size=9, nproc=2)
    for bad in (0, 65):
        with pytest.raises(ValidationError, match="nproc"):
            TrainerSpec(batch_size=8, nproc=bad)


def test_several_processes_need_one_gpu_each() -> None:
    check_ranks(torch.device("cpu"), 8)  # the ranks share the cores
    with pytest.raises(AppError) as refused:
        check_ranks(torch.device("mps"), 2)
    assert refused.value.code is ErrorCode.DEVICE_UNAVAILABLE
    if torch.cuda.device_count() < 2:
        with pytest.raises(AppError, match="one CUDA GPU per process"):
            check_ranks(torch.device("cuda"), 2)


def test_ranks_on_one_machine_each_hold_the_model_state() -> None:
    backend = discover_models({}).get("gpt2")
    arch = Architecture(
        family="gpt2", n_layer=2, n_head=2, n_embd=64, max_seq_len=32, vocab_size=100, dropout=0.0
    )
    ram = DeviceCapacity(kind="cpu", name="cpu", memory_bytes=64 << 30)
    gpu = DeviceCapacity(kind="cuda", name="gpu", memory_bytes=16 << 30)
    limits = LimitSettings()
    one = judge_memory(arch, backend, TrainerSpec(batch_size=8), limits, ram)
    two = judge_memory(arch, backend, TrainerSpec(batch_size=8, nproc=2), limits, ram)
    params = one.need.parameters
    # each rank: weights, gradients, two moments and DDP's buckets; the horse: the weights
    assert two.need.state_bytes == 2 * (one.need.state_bytes + 4 * params) + 4 * params
    assert two.need.activation_bytes == one.need.activation_bytes  # the batch is shared
    assert two.overhead_bytes == 3 * one.overhead_bytes  # two ranks and the work horse
    each = judge_memory(arch, backend, TrainerSpec(batch_size=8, nproc=2), limits, gpu)
    assert each.need.state_bytes == one.need.state_bytes + 4 * params
    assert each.need.activation_bytes == one.need.activation_bytes // 2


def test_reports_are_read_as_whole_lines_once(tmp_path: Path) -> None:
    path = tmp_path / "reports.jsonl"
    reader = ReportReader(path)
    assert reader.new() == []  # rank 0 has not written yet
    started = Started(resumed_from=None).model_dump_json()
    progress = Progressed(
        progress=Progress(step=10, max_steps=20, tokens_seen=80, train_loss=1.0, lr=0.1)
    ).model_dump_json()
    path.write_text(started + "\n" + progress[:20], encoding="utf-8")  # a line half-written
    assert reader.new() == [Started(resumed_from=None)]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(progress[20:] + "\n")
    (report,) = reader.new()
    assert isinstance(report, Progressed) and report.progress.step == 10
    assert reader.new() == []
    with path.open("a", encoding="utf-8") as handle:
        handle.write(Failed(code=ErrorCode.STORAGE_FAILED, message="full").model_dump_json())
        handle.write("\n{not json}\n")
    with pytest.raises(AppError, match="rank 0 reported nonsense"):
        reader.new()


def test_the_launcher_is_torchs_own_without_restarts(tmp_path: Path) -> None:
    command = launcher_command(2, tmp_path / "plan.json")
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert "--nproc-per-node=2" in command and "--max-restarts=0" in command
    assert "--standalone" in command


def test_the_runs_peak_counts_a_gpu_per_process_but_shared_cores_once() -> None:
    def info(device: str) -> DeviceInfo:
        return DeviceInfo(
            device=device,
            name="x",
            precision=Precision.FP32,
            threads=1,
            cpu="x",
            torch="x",
            peak_flops=1e12,
            processes=2,
        )

    assert info("cuda:0").run_peak_flops == 2e12
    assert info("cpu").run_peak_flops == 1e12
    assert rank_threads(8, 2, torch.device("cpu")) == 4
    assert rank_threads(8, 1, torch.device("cpu")) == 8
    assert rank_threads(1, 4, torch.device("cpu")) == 1
    assert rank_threads(8, 2, torch.device("cuda")) == 1


def test_a_refusal_for_memory_names_the_processes() -> None:
    backend = discover_models({}).get("gpt2")
    arch = Architecture(
        family="gpt2", n_layer=4, n_head=4, n_embd=256, max_seq_len=128, vocab_size=66, dropout=0.0
    )
    spec = TrainerSpec(batch_size=64, nproc=64)
    ram = DeviceCapacity(kind="cpu", name="cpu", memory_bytes=24 << 30)
    judged = judge_memory(arch, backend, spec, LimitSettings(), ram)
    assert not judged.fits
    message = memory_refusal(judged, arch, spec, "this worker").message
    assert "one step in 64 processes" in message and "a copy in each process" in message
    assert message.endswith("or use fewer processes (trainer.nproc)")
    gpu = DeviceCapacity(kind="cuda", name="gpu", memory_bytes=1 << 28)
    spec = TrainerSpec(batch_size=64, nproc=2)
    message = memory_refusal(
        judge_memory(arch, backend, spec, LimitSettings(), gpu), arch, spec, "w"
    ).message
    assert "in each of 2 processes" in message and "its share of the batch, 32 x 128" in message
    assert "fewer processes" not in message  # on GPUs fewer would need more each
