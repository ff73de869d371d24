"""``scale_plan``: the numbers ``docs/scaling.md`` plans NLLB scale with, measured on the project's own code.

(a) **Task allocation for hundreds of directions.** A synthetic NLLB-200 plan: the 202 FLORES-200
codes NLLB-200 covers (:data:`NLLB200`, ``eng_Latn`` plus 201 others), English-centric both ways
(2 × 201 = 402 directions) and, as a second scenario, every ordered pair among the
``m2m_languages`` largest non-English languages on top (20 → 380 more). Task sizes follow a Zipf
law over a seeded random ranking of the languages: the r-th largest of L non-English languages
has ``max_pairs · r^(−α)`` sentence pairs, α chosen so the smallest has ``min_pairs``; a
many-to-many pair gets ``m2m_fraction`` of the smaller side's English-centric size. The
meta-config is an architecture preset (``independent``: language-specific encoders and
decoders; ``partial``: half the encoder layers language-specific) with 6 + 6 layers, the sizes
weighted by temperature sampling, and ``nodes × 8`` GPUs — and the plan is resolved by the
project's :func:`~mtforge.train.plan.resolve_plan`, i.e. its real allocator
(:func:`~mtforge.train.plan.allocation.search_allocation`). Per GPU count it reports

* the allocator's wall time (only the ``allocate`` call, timed around it);
* :func:`~mtforge.train.plan.allocation_cost` of the allocation and of two baselines evaluated
  with the same function: **round-robin** (task i of the plan on GPU i mod N) and
  **weight-greedy** (tasks by falling sampling weight, each on the GPU with the least weight so
  far: the even-load allocation a data-size-aware scheduler would make) and **blocks**
  (contiguous, even blocks of the plan order: eng→X tasks together, then X→eng);
* balance: tasks per GPU, and the *weight load* W_r = Σ weights of GPU r's tasks. Every GPU
  trains one batch per step and picks one of its tasks in proportion to weight
  (:mod:`mtforge.train.sampling`), so task t on GPU r is trained a share (1/N)·w_t/W_r of all
  batches instead of w_t: the ratio 1/(N·W_r) (1 = as the temperature sampling intended) is
  reported per task as its min and max;
* memory: modules and parameters per GPU (parameters counted on the meta device from the real
  module classes for an NLLB-like width: d_model 1024, 16 heads, FFN 4096, a 256,206-piece
  shared vocabulary) at ``bytes_per_parameter`` (fp32 weights + gradients + Adam's two
  moments = 16 B);
* gradient-sync groups: the modules held by more than one GPU (one process group each in the
  trainer) and how many GPUs hold them, and the gradient bytes all-reduced per step if every
  such module were synced every step (the trainer's ``collective`` mode; an upper bound for
  ``sampled``) against a DDP all-reduce of the whole model.

It also times the allocator on English-centric plans of fewer languages (``probe_languages``,
on the first GPU count) and fits the growth exponent of time with task count on the two
largest plans, to extrapolate to plans that were not run.

(b) **Bytes per sentence** of real text: mean UTF-8 bytes per line of FLORES-200 devtest per
language (the same 1,012 sentences in each, so the languages compare directly), and bytes per
row when all of them are written as one monolingual corpus by the project's
:class:`~mtforge.corpus.CorpusWriter` (Parquet, zstd).

(c) **FAISS bytes per vector** for the index types the ``mine-index`` stage accepts
(:func:`mtforge.mine.index.new_index`): the marginal size of the serialised index per added
vector (two fills, difference ÷ vectors), and its fixed part (codebooks, coarse centroids), on
random unit vectors of LASER's dimension 1024.

(d) **KFP payload bytes**: for the project's compiled pipelines (``pipelines/compiled``), the
bytes of each component's command + arguments and component spec — both copied into every
task's driver output (its pod spec patch) on a KFP v2 cluster — and the bytes of an executor
input holding n collected artifacts (``dsl.Collected`` fan-in), built with KFP's own protos.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, SHARED_DATA, Benchmark, Result, log, machine_info
from mtforge.train.plan import AllocationConfig, Plan, allocation_cost, load_meta_config, preset, resolve_plan
from mtforge.train.plan.allocation import allocation_cost_terms

NAME = "scale_plan"
DESCRIPTION = "NLLB-scale plan: the real allocator on 400–800 directions, 8–128 GPUs; bytes per sentence, vector, task"
ENGLISH = "eng_Latn"
#: The 202 FLORES-200 codes of NLLB-200, as stopes lists them (``NLLB200_LANGS`` in
#: facebookresearch/stopes, stopes/eval/alti/alti_metrics/nllb_alti_detector.py).
NLLB200 = tuple(
    "ace_Arab ace_Latn acm_Arab acq_Arab aeb_Arab afr_Latn ajp_Arab aka_Latn amh_Ethi apc_Arab arb_Arab ars_Arab "
    "ary_Arab arz_Arab asm_Beng ast_Latn awa_Deva ayr_Latn azb_Arab azj_Latn bak_Cyrl bam_Latn ban_Latn bel_Cyrl "
    "bem_Latn ben_Beng bho_Deva bjn_Arab bjn_Latn bod_Tibt bos_Latn bug_Latn bul_Cyrl cat_Latn ceb_Latn ces_Latn "
    "cjk_Latn ckb_Arab crh_Latn cym_Latn dan_Latn deu_Latn dik_Latn dyu_Latn dzo_Tibt ell_Grek eng_Latn epo_Latn "
    "est_Latn eus_Latn ewe_Latn fao_Latn pes_Arab fij_Latn fin_Latn fon_Latn fra_Latn fur_Latn fuv_Latn gla_Latn "
    "gle_Latn glg_Latn grn_Latn guj_Gujr hat_Latn hau_Latn heb_Hebr hin_Deva hne_Deva hrv_Latn hun_Latn hye_Armn "
    "ibo_Latn ilo_Latn ind_Latn isl_Latn ita_Latn jav_Latn jpn_Jpan kab_Latn kac_Latn kam_Latn kan_Knda kas_Arab "
    "kas_Deva kat_Geor knc_Arab knc_Latn kaz_Cyrl kbp_Latn kea_Latn khm_Khmr kik_Latn kin_Latn kir_Cyrl kmb_Latn "
    "kon_Latn kor_Hang kmr_Latn lao_Laoo lvs_Latn lij_Latn lim_Latn lin_Latn lit_Latn lmo_Latn ltg_Latn ltz_Latn "
    "lua_Latn lug_Latn luo_Latn lus_Latn mag_Deva mai_Deva mal_Mlym mar_Deva min_Latn mkd_Cyrl plt_Latn mlt_Latn "
    "mni_Beng khk_Cyrl mos_Latn mri_Latn zsm_Latn mya_Mymr nld_Latn nno_Latn nob_Latn npi_Deva nso_Latn nus_Latn "
    "nya_Latn oci_Latn gaz_Latn ory_Orya pag_Latn pan_Guru pap_Latn pol_Latn por_Latn prs_Arab pbt_Arab quy_Latn "
    "ron_Latn run_Latn rus_Cyrl sag_Latn san_Deva sat_Olck scn_Latn shn_Mymr sin_Sinh slk_Latn slv_Latn smo_Latn "
    "sna_Latn snd_Arab som_Latn sot_Latn spa_Latn als_Latn srd_Latn srp_Cyrl ssw_Latn sun_Latn swe_Latn swh_Latn "
    "szl_Latn tam_Taml tat_Cyrl tel_Telu tgk_Cyrl tgl_Latn tha_Thai tir_Ethi taq_Latn taq_Tfng tpi_Latn tsn_Latn "
    "tso_Latn tuk_Latn tum_Latn tur_Latn twi_Latn tzm_Tfng uig_Arab ukr_Cyrl umb_Latn urd_Arab uzn_Latn vec_Latn "
    "vie_Latn war_Latn wol_Latn xho_Latn ydd_Hebr yor_Latn yue_Hant zho_Hans zho_Hant zul_Latn".split())


@dataclass(frozen=True)
class Settings:
    """The synthetic plan, the hardware it is allocated to, and the sizes of the side measurements."""

    languages: int = 202  # eng_Latn + the first languages-1 others of NLLB200
    m2m_languages: int = 20  # all ordered pairs among this many largest non-English languages (0: none)
    presets: tuple[str, ...] = ("independent", "partial")  # English-centric scenario
    m2m_presets: tuple[str, ...] = ("independent",)  # English-centric + many-to-many scenario
    gpus: tuple[int, ...] = (8, 32, 64, 128)
    gpus_per_node: int = 8
    max_pairs: int = 300_000_000  # sentence pairs of the largest English-centric language
    min_pairs: int = 30_000  # … and of the smallest
    m2m_fraction: float = 0.1  # pairs of a many-to-many direction ÷ the smaller side's English-centric pairs
    temperature: float = 5.0
    seed: int = 1  # ranking of the languages by size, and the allocator's seed
    encoder_layers: int = 6
    decoder_layers: int = 6
    d_model: int = 1024
    n_heads: int = 16
    ffn_dim: int = 4096
    vocab_size: int = 256_206  # NLLB-200's SentencePiece dictionary
    bytes_per_parameter: int = 16  # fp32 weights, gradients, Adam m and v
    probe_languages: tuple[int, ...] = (26, 51, 101)  # allocator time vs tasks (English-centric, first GPU count)
    faiss_dim: int = 1024
    # (OPQ64,IVF256,PQ64 stores the same 72 B per vector as IVF256,PQ64 but trains for minutes here)
    faiss_factories: tuple[str, ...] = ("Flat", "SQfp16", "IVF256,Flat", "IVF256,PQ64", "IVF256,PQ32")
    faiss_train: int = 10_000
    faiss_fill: tuple[int, int] = (2_000, 10_000)  # vectors in the two fills
    collected: tuple[int, ...] = (1, 100, 1_000, 10_000)  # artifacts in a dsl.Collected executor input

    def __post_init__(self) -> None:
        if not 2 <= self.languages <= len(NLLB200):
            raise ValueError(f"languages must be 2..{len(NLLB200)}, got {self.languages}")
        if self.m2m_languages > self.languages - 1:
            raise ValueError(f"m2m_languages ({self.m2m_languages}) exceeds the non-English languages "
                             f"({self.languages - 1})")
        if self.m2m_languages == 1:
            raise ValueError("m2m_languages must be 0 or at least 2")


FULL = Settings()
QUICK = Settings(languages=20, m2m_languages=5, gpus=(8, 16), probe_languages=(6, 11), faiss_dim=64,
                 faiss_factories=("Flat", "IVF16,PQ8"), faiss_train=3_000, faiss_fill=(500, 1_500),
                 collected=(1, 10, 100))


# -- the synthetic plan ---------------------------------------------------------------------------
def languages(settings: Settings) -> list[str]:
    """``eng_Latn`` and the first ``languages - 1`` other codes of :data:`NLLB200`."""
    return [ENGLISH, *[code for code in NLLB200 if code != ENGLISH][: settings.languages - 1]]


def language_sizes(settings: Settings) -> dict[str, int]:
    """English-centric sentence pairs per non-English language: Zipf over a seeded ranking."""
    others = languages(settings)[1:]
    ranked = others[:]
    random.Random(settings.seed).shuffle(ranked)
    alpha = math.log(settings.max_pairs / settings.min_pairs) / math.log(len(ranked)) if len(ranked) > 1 else 0.0
    return {lang: max(1, round(settings.max_pairs * (r + 1) ** -alpha)) for r, lang in enumerate(ranked)}


def plan_sizes(settings: Settings, m2m: bool) -> dict[tuple[str, str], int]:
    """Sentence pairs per planned direction, in plan order: eng→X, X→eng, then the many-to-many pairs."""
    sizes = language_sizes(settings)
    others = languages(settings)[1:]
    out = {(ENGLISH, x): sizes[x] for x in others}
    out.update({(x, ENGLISH): sizes[x] for x in others})
    if m2m and settings.m2m_languages:
        top = sorted(others, key=lambda x: -sizes[x])[: settings.m2m_languages]
        out.update({(a, b): max(1, round(settings.m2m_fraction * min(sizes[a], sizes[b])))
                    for a in top for b in top if a != b})
    return out


def meta(settings: Settings, preset_name: str, directions: Sequence[tuple[str, str]], gpus: int) -> dict[str, Any]:
    """The meta-config of one run: a preset, the directions, temperature and ``gpus`` GPUs in nodes of 8."""
    nodes, per_node = max(1, gpus // settings.gpus_per_node), min(gpus, settings.gpus_per_node)
    if nodes * per_node != gpus:
        raise ValueError(f"{gpus} GPUs is not a whole number of {settings.gpus_per_node}-GPU nodes")
    return {**preset(preset_name, encoder_layers=settings.encoder_layers, decoder_layers=settings.decoder_layers),
            "directions": [f"{s}-{t}" for s, t in directions], "temperature": settings.temperature,
            "allocation": {"nodes": nodes, "gpus_per_node": per_node, "seed": settings.seed}}


@contextlib.contextmanager
def timed_allocate() -> Iterator[list[float]]:
    """Time the ``allocate`` call inside :func:`~mtforge.train.plan.resolve_plan` (the real function,
    wrapped): ``with timed_allocate() as seconds: resolve_plan(...)`` leaves its wall time in ``seconds``."""
    import mtforge.train.plan.resolve as resolve_module

    real = resolve_module.allocate
    seconds: list[float] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)

    resolve_module.allocate = wrapped
    try:
        yield seconds
    finally:
        resolve_module.allocate = real


def resolve(settings: Settings, preset_name: str, sizes: Mapping[tuple[str, str], int], gpus: int) -> tuple[Plan, float]:
    """The resolved plan and the allocator's wall seconds."""
    config = load_meta_config(meta(settings, preset_name, list(sizes), gpus))
    with timed_allocate() as seconds:
        plan = resolve_plan(config, sizes=dict(sizes))
    return plan, seconds[0]


# -- baselines and what an allocation implies -----------------------------------------------------
def round_robin(tasks: Sequence[str], world: int) -> list[list[str]]:
    """Task i (plan order) on GPU i mod ``world``."""
    return [list(tasks[r::world]) for r in range(world)]


def blocks(tasks: Sequence[str], world: int) -> list[list[str]]:
    """Contiguous blocks of the plan order, as even as possible (the first ``n mod world`` GPUs get one
    more): tasks that follow each other in the plan (eng→X, then X→eng) share GPUs, and neighbouring
    GPUs share a node."""
    per, extra = divmod(len(tasks), world)
    out, start = [], 0
    for r in range(world):
        size = per + (r < extra)
        out.append(list(tasks[start:start + size]))
        start += size
    return out


def weight_greedy(tasks: Sequence[str], weights: Mapping[str, float], world: int) -> list[list[str]]:
    """Tasks by falling weight, each on the GPU with the least weight so far (then fewest tasks, lowest
    index): longest-processing-time-first on the sampling weights."""
    ranks: list[list[str]] = [[] for _ in range(world)]
    load = [0.0] * world
    for task in sorted(tasks, key=lambda t: (-weights[t], tasks.index(t))):
        r = min(range(world), key=lambda i: (load[i], len(ranks[i]), i))
        ranks[r].append(task)
        load[r] += weights[task]
    return ranks


def cost_terms(ranks: Sequence[Sequence[str]], modules: Mapping[str, Sequence[str]], per_node: int,
               config: AllocationConfig) -> dict[str, float]:
    """The three weighted terms of :func:`~mtforge.train.plan.allocation_cost` and their sum (``cost``)."""
    terms = allocation_cost_terms(ranks, modules, per_node, config)
    return {**terms, "cost": allocation_cost(ranks, modules, per_node, config)}


def module_parameters(plan: Plan, settings: Settings) -> dict[str, int]:
    """Parameters of every module of ``plan`` at the settings' width, counted on the meta device."""
    import torch

    from mtforge.model.transformer import ModelConfig, build_unit

    cfg = ModelConfig(vocab_size=settings.vocab_size, d_model=settings.d_model, n_heads=settings.n_heads,
                      ffn_dim=settings.ffn_dim)
    by_shape: dict[tuple[str, int], int] = {}
    out = {}
    for module, layers in plan.module_layers().items():
        key = (module.split("/", 1)[0], layers)
        if key not in by_shape:
            with torch.device("meta"):
                by_shape[key] = sum(p.numel() for p in build_unit(cfg, module, layers).parameters())
        out[module] = by_shape[key]
    return out


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "mean": statistics.fmean(values),
            "max": max(values)}


def evaluate(ranks: Sequence[Sequence[str]], plan: Plan, parameters: Mapping[str, int],
             settings: Settings) -> dict[str, Any]:
    """Cost, balance, memory and sync groups of one allocation of ``plan``'s tasks (names per GPU)."""
    modules = {t.name: t.modules for t in plan.tasks}
    weights = {t.name: t.weight for t in plan.tasks}
    config = AllocationConfig(nodes=plan.nodes, gpus_per_node=plan.procs_per_node, seed=settings.seed)
    world = len(ranks)
    held = [sorted({m for t in tasks for m in modules[t]}) for tasks in ranks]
    holders: dict[str, int] = {}
    for mods in held:
        for m in mods:
            holders[m] = holders.get(m, 0) + 1
    load = [sum(weights[t] for t in tasks) for tasks in ranks]
    share = [1 / (world * load[r]) for r, tasks in enumerate(ranks) for _ in tasks]
    per_gpu = [sum(parameters[m] for m in mods) for mods in held]
    synced = {m: h for m, h in holders.items() if h >= 2}
    total = sum(parameters.values())
    bytes_collective = 4 * sum(h * parameters[m] for m, h in synced.items()) / world
    return {
        **cost_terms(ranks, modules, plan.procs_per_node, config),
        "tasks_per_gpu": spread([len(t) for t in ranks]),
        "weight_load_max_over_mean": max(load) / statistics.fmean(load),
        "weight_load_min_over_mean": min(load) / statistics.fmean(load),
        "sampling_share_vs_intended": {"min": min(share), "max": max(share)},
        "modules_per_gpu": spread([len(m) for m in held]),
        "parameters_per_gpu": spread(per_gpu),
        "memory_gib_per_gpu_max": max(per_gpu) * settings.bytes_per_parameter / 2**30,
        "sync_groups": len(synced),
        "sync_group_holders": spread(list(synced.values())) if synced else {},
        "allreduce_bytes_per_gpu_step_collective": bytes_collective,
        "ddp_allreduce_bytes_per_gpu_step": 4 * total,
        "every_task_once": sorted(t for tasks in ranks for t in tasks) == sorted(modules),
    }


def allocation_run(settings: Settings, scenario: str, preset_name: str, sizes: Mapping[tuple[str, str], int],
                   gpus: int) -> dict[str, Any]:
    """One plan resolved and its allocation compared with the baselines."""
    plan, seconds = resolve(settings, preset_name, sizes, gpus)
    parameters = module_parameters(plan, settings)
    tasks = [t.name for t in plan.tasks]
    weights = {t.name: t.weight for t in plan.tasks}
    allocator = [[s.task for s in slots] for slots in plan.ranks]
    runs = {"allocator": evaluate(allocator, plan, parameters, settings),
            "round_robin": evaluate(round_robin(tasks, plan.world_size), plan, parameters, settings),
            "blocks": evaluate(blocks(tasks, plan.world_size), plan, parameters, settings),
            "weight_greedy": evaluate(weight_greedy(tasks, weights, plan.world_size), plan, parameters, settings)}
    return {
        "scenario": scenario, "preset": preset_name, "gpus": gpus, "nodes": plan.nodes, "tasks": len(tasks),
        "modules": len(parameters),
        "language_specific_modules": sum(1 for m in parameters if not m.endswith(("/full", "/shared"))),
        "parameters_total": sum(parameters.values()),
        "parameters_by_shape": {f"{m.split('/', 1)[0]} {layers}": parameters[m]
                                for m, layers in plan.module_layers().items()},
        "allocator_seconds": seconds,
        "cost_ratio_vs_round_robin": runs["allocator"]["cost"] / runs["round_robin"]["cost"],
        "cost_ratio_vs_weight_greedy": runs["allocator"]["cost"] / runs["weight_greedy"]["cost"],
        "cost_ratio_vs_blocks": runs["allocator"]["cost"] / runs["blocks"]["cost"],
        **runs,
    }


def growth_exponent(points: Sequence[tuple[int, float]]) -> float:
    """Slope of log(seconds) over log(tasks) between the two largest plans."""
    (n1, t1), (n2, t2) = sorted(points)[-2:]
    return math.log(t2 / t1) / math.log(n2 / n1)


# -- (b) bytes per sentence ------------------------------------------------------------------------
def flores_bytes(out_dir: Path) -> dict[str, Any]:
    """Mean UTF-8 bytes per FLORES-200 devtest sentence per language, and bytes per row of all of
    them written as one mono corpus by :class:`~mtforge.corpus.CorpusWriter` (Parquet, zstd)."""
    import pyarrow as pa

    from mtforge.corpus import CorpusWriter

    folder = SHARED_DATA / "flores200" / "devtest"
    if not folder.is_dir():
        return {"absent": str(folder)}
    per_language, rows = {}, {"text": [], "lang": [], "score": [], "origin": []}
    for path in sorted(folder.glob("*.devtest")):
        lang = path.name.split(".")[0]
        lines = path.read_text(encoding="utf-8").splitlines()
        per_language[lang] = sum(len(line.encode("utf-8")) for line in lines) / len(lines)
        rows["text"] += lines
        rows["lang"] += [lang] * len(lines)
        rows["score"] += [None] * len(lines)
        rows["origin"] += [f"flores200/devtest/{path.name}:{i + 1}" for i in range(len(lines))]
    with CorpusWriter(out_dir / "flores-mono", kind="mono") as writer:
        writer.write(pa.table(rows))
    files = sorted((out_dir / "flores-mono").glob("*.parquet"))
    on_disk = sum(f.stat().st_size for f in files)
    by_script: dict[str, list[float]] = {}
    for lang, b in per_language.items():
        by_script.setdefault(lang.split("_")[1], []).append(b)
    return {"languages": len(per_language), "sentences": len(rows["text"]),
            "bytes_per_sentence": per_language,
            "bytes_per_sentence_by_script": {s: statistics.fmean(v) for s, v in sorted(by_script.items())},
            "bytes_per_sentence_mean": statistics.fmean(per_language.values()),
            "parquet_bytes_per_row": on_disk / len(rows["text"]), "parquet_files": len(files)}


# -- (c) FAISS bytes per vector --------------------------------------------------------------------
def faiss_bytes(settings: Settings) -> dict[str, dict[str, float]]:
    """Marginal serialised bytes per vector and fixed bytes of each index type (random unit vectors)."""
    import faiss

    from mtforge.mine import index as faiss_index

    first, second = settings.faiss_fill
    rng = np.random.default_rng(settings.seed)
    vectors = rng.standard_normal((settings.faiss_train + second, settings.faiss_dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out = {}
    for factory in settings.faiss_factories:
        start = time.perf_counter()
        index = faiss_index.new_index(factory, settings.faiss_dim)
        faiss_index.train(index, vectors[: settings.faiss_train])
        fill = vectors[settings.faiss_train:]
        faiss_index.add(index, fill[:first])
        size_first = faiss.serialize_index(index).size
        faiss_index.add(index, fill[first:second])
        size_second = faiss.serialize_index(index).size
        per_vector = (size_second - size_first) / (second - first)
        out[factory] = {"bytes_per_vector": per_vector, "fixed_bytes": size_first - first * per_vector,
                        "seconds": time.perf_counter() - start}
    return out


# -- (d) KFP payload bytes -------------------------------------------------------------------------
def compiled_sizes(folder: Path) -> dict[str, dict[str, int]]:
    """Per pipeline and executor: bytes of command + arguments and of the component spec (compact JSON)."""
    import yaml

    out = {}
    for path in sorted(folder.glob("*.yaml")):
        spec = next(yaml.safe_load_all(path.read_text()))
        components = spec.get("components", {})
        for label, executor in spec.get("deploymentSpec", {}).get("executors", {}).items():
            container = executor.get("container", {})
            component = components.get("comp-" + label.removeprefix("exec-"), {})
            out[f"{path.stem}/{label.removeprefix('exec-')}"] = {
                "cmd_args_bytes": len(json.dumps(container.get("command", []) + container.get("args", []))),
                "component_spec_bytes": len(json.dumps(component, separators=(",", ":"))),
            }
    return out


def collected_input_bytes(counts: Sequence[int]) -> dict[int, int]:
    """Bytes of the JSON executor input of a task whose one input is ``n`` collected Dataset artifacts
    with KFP's default MinIO URIs and a ``content_hash`` in their metadata (what every mtforge
    component stamps), built with KFP's protos."""
    from google.protobuf import json_format, struct_pb2
    from kfp.pipeline_spec import pipeline_spec_pb2 as ps

    out = {}
    for n in counts:
        executor_input = ps.ExecutorInput()
        artifacts = executor_input.inputs.artifacts["shards"]
        for i in range(n):
            metadata = struct_pb2.Struct()
            metadata.update({"content_hash": f"{i:064x}", "display_name": "curated"})
            artifact = artifacts.artifacts.add(
                name=str(100_000 + i),
                uri=f"minio://mlpipeline/v2/artifacts/curate-mono/3f0c6c5e-9b1a-4a57-8a53-2f4b8f6a1d2e/"
                    f"curate-shard/{i:08x}/curated",
                metadata=metadata)
            artifact.type.schema_title = "system.Dataset"
            artifact.type.schema_version = "0.0.1"
        executor_input.outputs.output_file = "/tmp/kfp_outputs/output_metadata.json"
        out[n] = len(json_format.MessageToJson(executor_input, indent=None))
    return out


# -- the run --------------------------------------------------------------------------------------
def run(settings: Settings, mode: str = "custom") -> Result:
    """Measure (see the module docstring)."""
    machine = machine_info()
    runs = []
    scenarios: list[tuple[str, bool, tuple[str, ...]]] = [("english-centric", False, settings.presets)]
    if settings.m2m_languages:
        scenarios.append((f"english-centric + m2m top {settings.m2m_languages}", True, settings.m2m_presets))
    for scenario, m2m, presets in scenarios:
        sizes = plan_sizes(settings, m2m)
        for preset_name in presets:
            for gpus in settings.gpus:
                log(f"{NAME}: {scenario}, {preset_name}, {len(sizes)} tasks on {gpus} GPUs …")
                runs.append(allocation_run(settings, scenario, preset_name, sizes, gpus))
    log(f"{NAME}: allocator time against task count …")
    probe_gpus = settings.gpus[0]
    probe = []
    for n in settings.probe_languages:
        sizes = plan_sizes(Settings(**{**asdict(settings), "languages": n, "m2m_languages": 0}), False)
        probe.append((len(sizes), resolve(settings, "independent", sizes, probe_gpus)[1]))
    probe += [(r["tasks"], r["allocator_seconds"]) for r in runs
              if r["scenario"] == "english-centric" and r["preset"] == "independent" and r["gpus"] == probe_gpus]
    probe = sorted(set(probe))
    exponent = growth_exponent(probe)
    log(f"{NAME}: bytes per sentence, per vector, per KFP task …")
    with tempfile.TemporaryDirectory(prefix="mtforge-bench-scale-") as tmp:
        text = flores_bytes(Path(tmp))
    vectors = faiss_bytes(settings)
    compiled = compiled_sizes(ROOT / "pipelines" / "compiled")
    collected = collected_input_bytes(settings.collected)
    counts = sorted(collected)
    per_artifact = (collected[counts[-1]] - collected[counts[0]]) / (counts[-1] - counts[0])
    metrics = {
        "runs": runs,
        "allocator_probe": {"gpus": probe_gpus, "points": probe, "growth_exponent": exponent},
        "text": text,
        "faiss": vectors,
        "kfp": {"compiled": compiled, "collected_executor_input_bytes": collected,
                "collected_bytes_per_artifact": per_artifact},
    }
    details = {"languages": languages(settings), "language_sizes": language_sizes(settings),
               "alpha": math.log(settings.max_pairs / settings.min_pairs) / math.log(max(2, settings.languages - 1))}
    return Result(NAME, DESCRIPTION, mode, asdict(settings), metrics, table(metrics), machine, details)


def _fmt_run(r: Mapping[str, Any]) -> list[tuple[str, str]]:
    a, rr, wg, bl = r["allocator"], r["round_robin"], r["weight_greedy"], r["blocks"]
    label = f"{r['scenario']}, {r['preset']}, {r['tasks']} tasks / {r['modules']} modules, {r['gpus']} GPUs"
    tpg, mpg = a["tasks_per_gpu"], a["modules_per_gpu"]
    share = a["sampling_share_vs_intended"]
    return [
        (f"{label}: allocator s; cost (device+node+balance) vs round-robin, weight-greedy, blocks",
         f"{r['allocator_seconds']:.1f} s; {a['cost']:,.0f} ({a['device']:,.0f}+{a['node']:,.0f}+{a['balance']:,.0f}) "
         f"vs {rr['cost']:,.0f} ({r['cost_ratio_vs_round_robin']:.2f}×), {wg['cost']:,.0f} "
         f"({r['cost_ratio_vs_weight_greedy']:.2f}×), {bl['cost']:,.0f} ({r['cost_ratio_vs_blocks']:.2f}×)"),
        (f"{label}: tasks/GPU; weight load max÷mean (rr, wg); task trained × intended",
         f"{tpg['min']:.0f}–{tpg['max']:.0f}; {a['weight_load_max_over_mean']:.2f} "
         f"({rr['weight_load_max_over_mean']:.2f}, {wg['weight_load_max_over_mean']:.2f}); "
         f"{share['min']:.2f}–{share['max']:.2f}"),
        (f"{label}: modules/GPU; GiB/GPU max; sync groups (holders median, max); GB all-reduced/GPU/step (DDP)",
         f"{mpg['min']:.0f}–{mpg['max']:.0f}; {a['memory_gib_per_gpu_max']:.0f} GiB; {a['sync_groups']} "
         f"({a['sync_group_holders'].get('median', 0):.0f}, {a['sync_group_holders'].get('max', 0):.0f}); "
         f"{a['allreduce_bytes_per_gpu_step_collective'] / 1e9:.2f} ({a['ddp_allreduce_bytes_per_gpu_step'] / 1e9:.1f})"),
    ]


def table(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The result's rows."""
    rows = [row for r in metrics["runs"] for row in _fmt_run(r)]
    probe = metrics["allocator_probe"]
    rows.append((f"allocator seconds by tasks ({probe['gpus']} GPUs, independent); growth exponent",
                 ", ".join(f"{n}: {s:.2f}" for n, s in probe["points"]) + f"; {probe['growth_exponent']:.2f}"))
    text = metrics["text"]
    if "absent" not in text:
        scripts = text["bytes_per_sentence_by_script"]
        rows.append(("FLORES-200 devtest UTF-8 bytes/sentence: mean; by script",
                     f"{text['bytes_per_sentence_mean']:.0f}; " + ", ".join(f"{s} {b:.0f}" for s, b in scripts.items())))
        rows.append(("mono corpus (Parquet zstd) bytes/row, all FLORES devtest languages",
                     f"{text['parquet_bytes_per_row']:.0f}"))
    rows.append(("FAISS serialised bytes/vector (fixed MB)",
                 ", ".join(f"{f} {v['bytes_per_vector']:.0f} ({v['fixed_bytes'] / 1e6:.1f})"
                           for f, v in metrics["faiss"].items())))
    kfp = metrics["kfp"]
    rows.append(("KFP executor input bytes with n collected artifacts; per artifact",
                 ", ".join(f"{n}: {b:,}" for n, b in kfp["collected_executor_input_bytes"].items())
                 + f"; {kfp['collected_bytes_per_artifact']:.0f}"))
    return rows


BENCHMARK = Benchmark(NAME, run, FULL, QUICK)
