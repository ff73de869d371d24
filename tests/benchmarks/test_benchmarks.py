"""The benchmarks run end to end in their quickest form and write well-formed results.

Only the shape and sanity of what they record is checked (fields present, ratios positive,
utilisation plausible, the FLOP formula exact, measured bytes equal to the plan's
prediction), never a timing: the machine is shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import modular_sync, runner_overhead, train_throughput
from benchmarks.__main__ import main
from benchmarks.common import cpu_model, write_result
from mtforge.model.transformer import ModelConfig, ModularTransformer
from mtforge.train.data import make_batch
from mtforge.train.plan import Plan, Sharing, Slot, TaskPlan, load_meta_config, resolve_plan
from mtforge.train.validate import task_loss

EN, DE, FR = "eng_Latn", "deu_Latn", "fra_Latn"

#: train_throughput at its smallest: a 3,000-line vocabulary of 1,000 pieces, small batches, 2 timed
#: steps, one thread (several are many times slower than one when the machine is busy).
TINY_TRAIN = train_throughput.Settings(steps=2, warmup_steps=1, batch_tokens=600, vocab_size=1000,
                                       train_lines=3000, matmul_repeats=2, threads=1)
#: modular_sync at its smallest: one preset (4 directions, 2 tasks per rank, so the sampler decides
#: which modules are all-reduced), a tiny model and a few steps.
TINY_SYNC = modular_sync.Settings(
    directions=(f"{EN}-{DE}", f"{DE}-{EN}", f"{EN}-{FR}", f"{FR}-{EN}"), steps=5, scaling_steps=4, log_every=2,
    presets=("partial",), train_lines=300, vocab_size=300, d_model=32, n_heads=2, ffn_dim=64, encoder_layers=2,
    decoder_layers=1, batch_tokens=400, matmul_sizes=(256,), matmul_repeats=2)
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
    assert data["details"]["modules"] == {"decoder/0/full": 3, "embeddings/shared": 0, "encoder/0/full": 3}
    readme = (tmp_path / "README.md").read_text()
    assert "| train_throughput | custom |" in readme and cpu_model() in readme and torch.__version__ in readme


def test_step_flops_is_what_torch_counts(torch_one_thread: None) -> None:
    """The formula against FlopCounterMode on a shape where everything differs: S ≠ T,
    stacked encoder (2 + 1 layers) and decoder (1 + 2 layers) modules, padding on both sides.
    Dropout is on, as in the benchmark: without it CPU attention runs a fused kernel that
    FlopCounterMode does not count."""
    meta = load_meta_config({"directions": [f"{EN}-{DE}"], "enc_layers": [2, 1], "enc_sharing": ["LANGUAGE", "FULL"],
                             "dec_layers": [1, 2], "dec_sharing": ["FULL", "LANGUAGE"]})
    plan = resolve_plan(meta, sizes={(EN, DE): 10})
    task = plan.tasks[0]
    assert len(task.encoder) == len(task.decoder) == 2
    cfg = ModelConfig(vocab_size=50, d_model=32, n_heads=4, ffn_dim=48, dropout=0.1)
    model = ModularTransformer(cfg, plan.module_layers(), seed=1)
    batch = make_batch([[5, 6, 7, 8, 9, 10, 11], [5, 6]], [[7, 8, 3], [9, 3]], tag_id=4)
    with FlopCounterMode(display=False) as counter:
        task_loss(model, task, batch, 0.1).backward()
    assert counter.get_total_flops() == train_throughput.step_flops(cfg, plan, task, batch)


def crafted_plan() -> Plan:
    """Three ranks, one task each; rank 0's task starts at once, ranks 1 and 2 idle at step 1.

    ====  ========  =====  ==================================================
    rank  task      start  modules (parameters)
    ====  ========  =====  ==================================================
    0     eng→deu   0      embeddings/shared (1000), encoder/0/eng (100), decoder/0/deu (200)
    1     deu→eng   1      embeddings/shared, encoder/0/deu (100), decoder/0/eng (200)
    2     deu→fra   1      embeddings/shared, encoder/0/deu, decoder/0/fra (200)
    ====  ========  =====  ==================================================
    """
    def task(src: str, tgt: str, start: int) -> TaskPlan:
        return TaskPlan(src_lang=src, tgt_lang=tgt, encoder=[f"encoder/0/{src}"], decoder=[f"decoder/0/{tgt}"],
                        src_embeddings="embeddings/shared", tgt_embeddings="embeddings/shared", lang_prefix=False,
                        weight=1.0, start_step=start)

    tasks = [task(EN, DE, 0), task(DE, EN, 1), task(DE, FR, 1)]
    return Plan(languages=[EN, DE, FR], groups={}, enc_layers=[1], dec_layers=[1], enc_sharing=[Sharing.LANGUAGE],
                dec_sharing=[Sharing.LANGUAGE], embeddings="shared", tasks=tasks, nodes=1, procs_per_node=3,
                ranks=[[Slot(task=t.name)] for t in tasks])


CRAFTED_PARAMETERS = {"embeddings/shared": 1000, f"encoder/0/{EN}": 100, f"encoder/0/{DE}": 100,
                      f"decoder/0/{DE}": 200, f"decoder/0/{EN}": 200, f"decoder/0/{FR}": 200}


def test_shared_fraction_counts_each_holder_of_each_used_shared_module() -> None:
    """By hand: the embeddings are held by all 3 ranks, encoder/0/deu by ranks 1 and 2, the rest by
    one rank. Step 1: only rank 0 trains, so the embeddings are all-reduced (3 × 1000) but
    encoder/0/deu, used by nobody, is not: 3000. From step 2: 3000 + 2 × 100 = 3200. DDP all-reduces
    the 1800 parameters on each of the 3 ranks every step: 5400 per step."""
    plan = crafted_plan()
    assert sorted(plan.holders()) == sorted(CRAFTED_PARAMETERS)
    assert [modular_sync.synced_parameters(plan, CRAFTED_PARAMETERS, step, seed=1) for step in (1, 2, 3)] == [
        3000, 3200, 3200]
    assert modular_sync.shared_fraction(plan, CRAFTED_PARAMETERS, steps=1, seed=1) == 3000 / 5400
    assert modular_sync.shared_fraction(plan, CRAFTED_PARAMETERS, steps=3, seed=1) == 9400 / 16200


def test_a_single_rank_shares_nothing() -> None:
    plan = crafted_plan()
    alone = plan.model_copy(update={"procs_per_node": 1, "ranks": [[Slot(task=t.name) for t in plan.tasks]]})
    assert modular_sync.shared_fraction(alone, CRAFTED_PARAMETERS, steps=4, seed=1) == 0.0


def test_an_unknown_benchmark_is_named_with_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["runner_overheads"])
    err = capsys.readouterr().err
    assert "runner_overheads" in err and "runner_overhead," in err and "train_throughput" in err
    assert "modular_sync" in err


@pytest.mark.slow
def test_modular_sync_measures_exactly_the_bytes_the_plan_predicts(shared_data: Path, tmp_path: Path) -> None:
    """Real torchrun runs (2 ranks for the preset, then 1 and 2 processes for weak scaling)."""
    write_result(modular_sync.run(TINY_SYNC), tmp_path)
    data = read_result(tmp_path, "modular_sync")
    metrics = data["metrics"]
    partial = metrics["bytes"]["partial"]
    assert partial["ranks"] == 2 and partial["steps"] == 5 and len(partial["directions"]) == 4
    assert partial["parameters"] == partial["trainer_parameters"]
    assert partial["bytes_all_reduced"] == partial["predicted_bytes_all_reduced"] > 0
    assert 0 < partial["ratio"] == partial["predicted_ratio"] < 1
    assert partial["ddp_bytes_per_step_per_rank"] == 4 * partial["parameters"]
    assert metrics["all_bytes_match"] and metrics["scaling_bytes"]["bytes_match"]
    holders = data["details"]["modules"]["partial"]["holders"]
    assert holders["encoder/1/full"] == [0, 1]  # the shared encoder layers live on both ranks
    for n in ("1", "2"):
        run = metrics["scaling"][n]
        assert run["processes"] == int(n) and run["timed_steps"] == 2 and run["replay_matches"]
        assert run["tgt_tokens_per_s_per_process"] > 0 and 0 < run["utilisation"] <= 1.5
    assert metrics["weak_scaling_efficiency"] > 0
    assert any("plan predicts" in value and "equal" in value for _, value in data["table"])
    assert "| modular_sync | custom |" in (tmp_path / "README.md").read_text()


@pytest.mark.slow
def test_runner_overhead_quick_run_from_the_command_line(shared_data: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runner_overhead", "--quick", "--out", str(tmp_path)]) == 0
    assert "runner ÷ in-process" in capsys.readouterr().out
    data = read_result(tmp_path, "runner_overhead")
    metrics = data["metrics"]
    assert data["mode"] == "quick"
    assert metrics["tasks"] == len(runner_overhead.TASKS) == 7
    assert len(metrics["in_process_runs"]) == 2 and len(metrics["runner_runs"]) == 1
    assert metrics["in_process_seconds"] > 0 and metrics["runner_seconds"] > 0 and metrics["ratio"] > 0
    assert metrics["per_task_overhead_seconds"] == pytest.approx(
        (metrics["runner_seconds"] - metrics["in_process_seconds"]) / 7)
    assert set(data["details"]["per_task_seconds"]) == set(runner_overhead.TASKS)
    assert "| runner_overhead | quick |" in (tmp_path / "README.md").read_text()
