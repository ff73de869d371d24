"""The benchmarks run end to end in their quickest form and write well-formed results.

Only the shape and sanity of what they record is checked (fields present, ratios positive,
utilisation plausible, the FLOP formula exact), never a timing: the machine is shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import runner_overhead, train_throughput
from benchmarks.__main__ import main
from benchmarks.common import cpu_model, write_result
from mtforge.model.transformer import ModelConfig
from mtforge.train.data import make_batch
from mtforge.train.tasks import make_tasks
from mtforge.train.trainer import build_model, task_loss

#: train_throughput at its smallest: a 3,000-line vocabulary of 1,000 pieces, small batches, 2 timed
#: steps, one thread (several are many times slower than one when the machine is busy).
TINY_TRAIN = train_throughput.Settings(steps=2, warmup_steps=1, batch_tokens=600, vocab_size=1000,
                                       train_lines=3000, matmul_repeats=2, threads=1)
RESULT_FIELDS = {"name", "description", "mode", "settings", "metrics", "table", "machine", "details"}
MACHINE_FIELDS = {"cpu", "cores", "usable_cores", "load_average", "torch", "torch_threads", "python", "date"}


def read_result(out: Path, name: str) -> dict:
    data = json.loads((out / f"{name}.json").read_text())
    assert RESULT_FIELDS <= set(data)
    assert MACHINE_FIELDS <= set(data["machine"])
    assert data["machine"]["torch"] == torch.__version__
    assert data["table"] and all(len(row) == 2 for row in data["table"])
    return data


def test_train_throughput_records_rates_and_a_plausible_utilisation(shared_data: Path, tmp_path: Path) -> None:
    write_result(train_throughput.run(TINY_TRAIN), tmp_path)
    data = read_result(tmp_path, "train_throughput")
    metrics = data["metrics"]
    assert data["mode"] == "custom" and data["settings"]["steps"] == 2 and metrics["threads"] == 1
    assert set(metrics["matmul_flops_per_s"]) == {str(n) for n in TINY_TRAIN.matmul_sizes}
    assert metrics["matmul_peak_flops_per_s"] == max(metrics["matmul_flops_per_s"].values()) > 0
    assert metrics["tgt_tokens_per_s"] > 0 and metrics["model_flops_per_s"] > 0 and metrics["tgt_tokens"] > 0
    assert 0 < metrics["utilisation"] <= 1.5
    assert metrics["flop_formula_check"] == pytest.approx(1.0)
    assert data["details"]["model"]["d_model"] == 256 and data["details"]["model"]["vocab_size"] == 1000
    readme = (tmp_path / "README.md").read_text()
    assert "| train_throughput | custom |" in readme and cpu_model() in readme and torch.__version__ in readme


def test_step_flops_is_what_torch_counts(torch_one_thread: None) -> None:
    """The formula against FlopCounterMode on a shape where everything differs: S ≠ T,
    encoder and decoder depths, padding on both sides. Dropout is on, as in the benchmark: without
    it CPU attention runs a fused kernel that FlopCounterMode does not count."""
    cfg = ModelConfig(vocab_size=50, d_model=32, n_heads=4, ffn_dim=48, encoder_layers=2, decoder_layers=1,
                      dropout=0.1)
    task = make_tasks([("eng_Latn", "deu_Latn")])[0]
    model = build_model(cfg, [task])
    batch = make_batch([[5, 6, 7, 8, 9, 10, 11], [5, 6]], [[7, 8, 3], [9, 3]], tag_id=4)
    with FlopCounterMode(display=False) as counter:
        task_loss(model, task, batch, 0.1).backward()
    assert counter.get_total_flops() == train_throughput.step_flops(cfg, batch)


def test_an_unknown_benchmark_is_named_with_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["runner_overheads"])
    err = capsys.readouterr().err
    assert "runner_overheads" in err and "runner_overhead," in err and "train_throughput" in err


@pytest.mark.slow
def test_runner_overhead_quick_run_from_the_command_line(shared_data: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runner_overhead", "--quick", "--out", str(tmp_path)]) == 0
    assert "runner ÷ in-process" in capsys.readouterr().out
    data = read_result(tmp_path, "runner_overhead")
    metrics = data["metrics"]
    assert data["mode"] == "quick"
    assert metrics["tasks"] == len(runner_overhead.TASKS) == 9
    assert len(metrics["in_process_runs"]) == 2 and len(metrics["runner_runs"]) == 1
    assert metrics["in_process_seconds"] > 0 and metrics["runner_seconds"] > 0 and metrics["ratio"] > 0
    assert metrics["per_task_overhead_seconds"] == pytest.approx(
        (metrics["runner_seconds"] - metrics["in_process_seconds"]) / 9)
    assert set(data["details"]["per_task_seconds"]) == set(runner_overhead.TASKS)
    assert "| runner_overhead | quick |" in (tmp_path / "README.md").read_text()
