"""The scale-plan benchmark at toy size: the properties the scaling document leans on must hold
exactly (every task allocated once, the allocator no worse than round-robin under its own cost
function, module counts that follow from the plan's shape), never a timing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import scale_plan
from benchmarks.common import write_result
from mtforge.train.plan import AllocationConfig, allocation_cost

#: 20 languages (19 non-English: 38 English-centric directions) on one node of 8 GPUs, plus every
#: ordered pair among the 4 largest (12 more directions); small side measurements.
TINY = scale_plan.Settings(languages=20, m2m_languages=4, gpus=(8,), probe_languages=(6, 11), faiss_dim=32,
                           faiss_factories=("Flat", "IVF8,PQ4"), faiss_train=2_000, faiss_fill=(200, 600),
                           collected=(1, 10, 50))


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[scale_plan.Result, Path]:
    out = tmp_path_factory.mktemp("scale-plan")
    res = scale_plan.run(TINY)
    return res, write_result(res, out)


def test_the_synthetic_plan_is_english_centric_both_ways_with_zipf_sizes() -> None:
    langs = scale_plan.languages(TINY)
    assert langs[0] == "eng_Latn" and len(langs) == len(set(langs)) == 20
    sizes = scale_plan.language_sizes(TINY)
    assert max(sizes.values()) == TINY.max_pairs and min(sizes.values()) == TINY.min_pairs
    ranked = sorted(sizes.values(), reverse=True)
    assert all(a > b for a, b in zip(ranked, ranked[1:]))  # Zipf: strictly falling with rank
    plan = scale_plan.plan_sizes(TINY, m2m=False)
    assert len(plan) == 2 * 19 and all("eng_Latn" in d for d in plan)
    both = scale_plan.plan_sizes(TINY, m2m=True)
    assert len(both) == 38 + 4 * 3 and list(both)[:38] == list(plan)


def test_every_task_is_allocated_exactly_once_and_no_worse_than_round_robin(result) -> None:
    res, _ = result
    runs = res.metrics["runs"]
    assert {(r["scenario"].split(" ")[0], r["preset"]) for r in runs} == {
        ("english-centric", "independent"), ("english-centric", "partial")}
    assert len(runs) == 3  # independent and partial English-centric, independent with m2m; 8 GPUs each
    for r in runs:
        for name in ("allocator", "round_robin", "weight_greedy", "blocks"):
            assert r[name]["every_task_once"], (r["scenario"], r["preset"], name)
            # the terms add up to what the project's cost function says
            terms = r[name]
            assert terms["device"] + terms["node"] + terms["balance"] == pytest.approx(terms["cost"])
        assert r["allocator"]["cost"] <= r["round_robin"]["cost"]
        assert r["cost_ratio_vs_round_robin"] == pytest.approx(r["allocator"]["cost"] / r["round_robin"]["cost"])
        tpg = r["allocator"]["tasks_per_gpu"]
        assert tpg["min"] >= 1 and tpg["max"] - tpg["min"] <= 1  # the balance term at work: 38 or 50 tasks on 8
        assert r["nodes"] == 1 and r["allocator"]["node"] == 0  # one node: no inter-node copies
        assert r["allocator_seconds"] > 0


def test_module_counts_follow_from_the_presets(result) -> None:
    res, _ = result
    by = {(r["tasks"], r["preset"]): r for r in res.metrics["runs"]}
    independent, partial, m2m = by[(38, "independent")], by[(38, "partial")], by[(50, "independent")]
    # independent: an encoder and a decoder per language (20 + 20) and the shared embeddings
    assert independent["modules"] == 41 and independent["language_specific_modules"] == 40
    # partial: a language-specific and a shared encoder stack, language decoders, shared embeddings
    assert partial["modules"] == 42 and partial["language_specific_modules"] == 40
    # many-to-many among languages already planned adds tasks, not modules
    assert m2m["modules"] == 41
    # each GPU holds the shared embeddings plus at least an encoder and a decoder of its tasks
    assert independent["allocator"]["modules_per_gpu"]["min"] >= 3
    shapes = independent["parameters_by_shape"]
    assert shapes["decoder 6"] > shapes["encoder 6"] > 0 and shapes["embeddings 0"] == TINY.vocab_size * TINY.d_model
    total = independent["parameters_total"]
    assert total == shapes["embeddings 0"] + 20 * (shapes["encoder 6"] + shapes["decoder 6"])
    # sync groups are the modules on more than one GPU; the shared embeddings are on all 8
    a = independent["allocator"]
    assert 1 <= a["sync_groups"] <= independent["modules"] and a["sync_group_holders"]["max"] == 8
    assert a["ddp_allreduce_bytes_per_gpu_step"] == 4 * total
    assert 0 < a["allreduce_bytes_per_gpu_step_collective"] < a["ddp_allreduce_bytes_per_gpu_step"]


def test_round_robin_and_weight_greedy_baselines() -> None:
    tasks = [f"t{i}" for i in range(7)]
    assert scale_plan.round_robin(tasks, 3) == [["t0", "t3", "t6"], ["t1", "t4"], ["t2", "t5"]]
    assert scale_plan.blocks(tasks, 3) == [["t0", "t1", "t2"], ["t3", "t4"], ["t5", "t6"]]
    weights = {"t0": 0.4, "t1": 0.2, "t2": 0.1, "t3": 0.1, "t4": 0.1, "t5": 0.05, "t6": 0.05}
    greedy = scale_plan.weight_greedy(tasks, weights, 3)
    assert greedy[0] == ["t0"] and sorted(t for r in greedy for t in r) == tasks
    loads = [sum(weights[t] for t in r) for r in greedy]
    assert max(loads) == pytest.approx(0.4)
    modules = {t: ("embeddings/shared", f"encoder/0/{t}") for t in tasks}
    config = AllocationConfig(nodes=1, gpus_per_node=3)
    terms = scale_plan.cost_terms(greedy, modules, 3, config)
    assert terms["cost"] == allocation_cost(greedy, modules, 3, config)
    assert terms["device"] == 2  # only the shared embeddings are copied (on 3 GPUs)


def test_side_measurements_and_the_results_file(result, shared_data: Path) -> None:
    res, path = result
    data = json.loads(path.read_text())
    assert data["name"] == "scale_plan" and data["mode"] == "custom" and data["table"]
    assert path.with_name("README.md").read_text().count("| scale_plan |") >= len(data["table"])
    probe = res.metrics["allocator_probe"]
    assert [n for n, _ in probe["points"]] == [10, 20, 38]
    text = res.metrics["text"]
    assert text["languages"] >= 2 and text["sentences"] == sum(1 for _ in text["bytes_per_sentence"]) * 1012
    assert text["bytes_per_sentence"]["eng_Latn"] < text["bytes_per_sentence"]["hin_Deva"]  # 1 vs 3 UTF-8 bytes
    assert 0 < text["parquet_bytes_per_row"] < text["bytes_per_sentence_mean"] * 2
    faiss = res.metrics["faiss"]
    assert faiss["Flat"]["bytes_per_vector"] == 4 * TINY.faiss_dim
    assert faiss["IVF8,PQ4"]["bytes_per_vector"] == 4 + 8  # 4 one-byte codes and an int64 id
    kfp = res.metrics["kfp"]
    assert kfp["collected_executor_input_bytes"][50] > kfp["collected_executor_input_bytes"][10]
    assert 200 < kfp["collected_bytes_per_artifact"] < 1000
    assert any(key.startswith("curate-mono/") for key in kfp["compiled"])
