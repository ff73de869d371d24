"""resolve_plan: meta-config → tasks with module ids, weights, curriculum, files and ranks;
and the Plan's queries (holders, layers, fingerprint, world size, zero-shot directions)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from pydantic import ValidationError

from mtforge.errors import ConfigError, CorpusFormatError, InputNotFoundError
from mtforge.train.plan import MetaConfig, Plan, preset, resolve_plan

EN, DE, FR, CS = "eng_Latn", "deu_Latn", "fra_Latn", "ces_Latn"
TRIANGLE = ["en-de", "de-en", "en-fr", "fr-en", "de-fr", "fr-de"]


def _meta(**fields) -> MetaConfig:
    return MetaConfig.model_validate({"languages": ["en", "de", "fr"], "directions": TRIANGLE, **fields})


def test_partial_preset_module_ids() -> None:
    plan = resolve_plan(_meta(**preset("partial", encoder_layers=4, decoder_layers=3)))
    en_de = plan.task("en-de")
    assert en_de.encoder == ["encoder/0/eng_Latn", "encoder/1/full"]
    assert en_de.decoder == ["decoder/0/deu_Latn"]
    assert en_de.modules == ("embeddings/shared", "encoder/0/eng_Latn", "encoder/1/full", "decoder/0/deu_Latn")
    assert en_de.lang_prefix is False
    assert plan.module_layers() == {
        "decoder/0/deu_Latn": 3, "decoder/0/eng_Latn": 3, "decoder/0/fra_Latn": 3,
        "embeddings/shared": 0,
        "encoder/0/deu_Latn": 2, "encoder/0/eng_Latn": 2, "encoder/0/fra_Latn": 2,
        "encoder/1/full": 2,
    }  # fmt: skip


def test_full_preset_prefixes_and_language_embeddings() -> None:
    plan = resolve_plan(_meta(**preset("full", encoder_layers=2, decoder_layers=2), embeddings="language"))
    fr_de = plan.task("fr-de")
    assert fr_de.lang_prefix is True
    assert fr_de.modules == ("embeddings/fra_Latn", "encoder/0/full", "decoder/0/full", "embeddings/deu_Latn")
    assert resolve_plan(_meta(**preset("full", encoder_layers=2, decoder_layers=2), lang_prefix="never")).tasks[0].lang_prefix is False


def test_group_sharing_uses_hand_groups() -> None:
    plan = resolve_plan(
        _meta(enc_sharing=["GROUP"], dec_sharing=["TGT_GROUP"], groups={"germanic": ["en", "de"], "romance": ["fr"]})
    )
    assert plan.groups == {EN: "germanic", DE: "germanic", FR: "romance"}
    assert plan.task("en-fr").encoder == ["encoder/0/germanic"]
    assert plan.task("en-fr").decoder == ["decoder/0/romance"]
    with pytest.raises(ConfigError, match="fra_Latn is in no group"):
        resolve_plan(_meta(enc_sharing=["GROUP"], groups={"germanic": ["en", "de"]}))


def test_group_sharing_by_clustering_inline_matrix() -> None:
    distances = {"en": {"de": 0.2, "fr": 0.9}, "de": {"en": 0.2, "fr": 0.9}, "fr": {"en": 0.9, "de": 0.9}}
    plan = resolve_plan(_meta(dec_sharing=["GROUP"], clustering={"distances": distances, "n_groups": 2}))
    assert plan.task("fr-de").decoder == plan.task("fr-en").decoder == ["decoder/0/group0"]
    assert plan.task("de-fr").decoder == ["decoder/0/group1"]


def test_holders_follow_the_ranks() -> None:
    plan = resolve_plan(_meta(allocation={"gpus_per_node": 3}))
    holders = plan.holders()
    assert list(holders) == sorted(holders)
    for module, ranks in holders.items():
        expected = [r for r, slots in enumerate(plan.ranks) if any(module in plan.task(s.task).modules for s in slots)]
        assert ranks == expected
    assert holders["encoder/0/full"] == [0, 1, 2]


def test_weights_from_sizes_with_temperature() -> None:
    sizes = {(EN, DE): 900, (DE, EN): 100}
    plan = resolve_plan(_meta(directions=["en-de", "de-en"], temperature=2.0), sizes=sizes)
    assert plan.task("en-de").weight == pytest.approx(0.75)  # sqrt(.9) : sqrt(.1) = 3 : 1
    assert plan.task("de-en").size == 100
    assert sum(t.weight for t in plan.tasks) == pytest.approx(1.0)
    uniform = resolve_plan(_meta(directions=["en-de", "de-en"]))
    assert [t.weight for t in uniform.tasks] == [0.5, 0.5] and uniform.tasks[0].size is None


def test_all_directions_from_sizes_and_missing_explicit_direction() -> None:
    sizes = {("en", "de"): 10, ("de", "en"): 10, ("en", "fr"): 0, ("fr", "de"): 5}
    plan = resolve_plan(_meta(directions="all"), sizes=sizes)
    assert [t.name for t in plan.tasks] == [f"{EN}-{DE}", f"{DE}-{EN}", f"{FR}-{DE}"]
    assert plan.languages == [EN, DE, FR]
    with pytest.raises(InputNotFoundError, match=f"task {EN}-{FR} has no data in the corpus"):
        resolve_plan(_meta(directions=["en-de", "en-fr"]), sizes=sizes)


def _write(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"line {i}\n" for i in range(n)))


def test_all_discovers_exactly_the_directions_with_files(tmp_path: Path) -> None:
    for pair, n in (("en-de", 4), ("de-en", 3), ("fr-en", 2), ("en-fr", 0)):
        src, tgt = pair.split("-")
        _write(tmp_path / pair / f"train.{src}", n)
        _write(tmp_path / pair / f"train.{tgt}", n)
    corpus = {"src": "{lang_pair}/train.{src_lang}", "tgt": "{lang_pair}/train.{tgt_lang}"}
    plan = resolve_plan(_meta(directions="all", corpus=corpus), base_dir=tmp_path)
    assert {t.name: t.size for t in plan.tasks} == {f"{EN}-{DE}": 4, f"{DE}-{EN}": 3, f"{FR}-{EN}": 2}
    assert plan.task("fr-en").src_path == str(tmp_path / "fr-en/train.fr")
    assert plan.task("fr-en").tgt_path == str(tmp_path / "fr-en/train.en")
    with pytest.raises(InputNotFoundError, match=rf"task {DE}-{FR} points at a missing corpus file .*de-fr/train\.de"):
        resolve_plan(_meta(directions=["en-de", "de-fr"], corpus=corpus), base_dir=tmp_path)
    _write(tmp_path / "en-de/train.de", 5)
    with pytest.raises(CorpusFormatError, match=r"en-de/train\.en has 4 lines but .*en-de/train\.de has 5"):
        resolve_plan(_meta(directions=["en-de"], corpus=corpus), base_dir=tmp_path)


def test_symmetric_template_appendix_a(tmp_path: Path) -> None:
    (tmp_path / "ben-eng").mkdir()
    for side, text in (("src", "আমি\nতুমি\n"), ("trg", "I\nyou\n")):
        (tmp_path / f"ben-eng/train.{side}.gz").write_bytes(gzip.compress(text.encode()))
    meta = MetaConfig(
        languages=["eng", "ben"],
        corpus={"mode": "symmetric", "src": "{sorted_pair}/train.{side_a}.gz", "tgt": "{sorted_pair}/train.{side_b}.gz"},
    )
    plan = resolve_plan(meta, base_dir=tmp_path)
    en_bn, bn_en = plan.task("eng-ben"), plan.task("ben-eng")
    assert (en_bn.size, bn_en.size) == (2, 2)
    assert en_bn.src_path == bn_en.tgt_path == str(tmp_path / "ben-eng/train.trg.gz")
    assert en_bn.tgt_path == bn_en.src_path == str(tmp_path / "ben-eng/train.src.gz")


def test_multi30k_all_twelve_directions(shared_data: Path) -> None:
    meta = MetaConfig(
        languages=["en", "de", "fr", "cs"],
        corpus={"src": "multi30k/train.{src_lang}", "tgt": "multi30k/train.{tgt_lang}"},
        allocation={"gpus_per_node": 2},
    )
    plan = resolve_plan(meta, base_dir=shared_data)
    assert len(plan.tasks) == 12
    assert {t.size for t in plan.tasks} == {29000}
    assert sorted(len(slots) for slots in plan.ranks) == [6, 6]
    # the default scheme (shared encoder, decoder per target) keeps each decoder on one rank
    assert all(len(ranks) == 1 for module, ranks in plan.holders().items() if module.startswith("decoder/"))


def test_curriculum_start_steps_and_no_idle_rank() -> None:
    plan = resolve_plan(_meta(curriculum={"de-fr": 500, "fr-de": 500}, allocation={"gpus_per_node": 2}))
    assert plan.task("de-fr").start_step == 500 and plan.task("en-de").start_step == 0
    assert all(any(plan.task(s.task).start_step == 0 for s in slots) for slots in plan.ranks)
    with pytest.raises(ConfigError, match="'cs-en'.*not a planned direction"):
        resolve_plan(_meta(languages=["en", "de", "fr", "cs"], curriculum={"cs-en": 5}))


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"enc_layers": [2, 2]}, ConfigError, r"enc_layers \[2, 2\] has 2 stacks but enc_sharing \['FULL'\] has 1"),
        ({"directions": ["en-cs"]}, ConfigError, f"direction {EN}-{CS} uses {CS}, which is not in languages"),
        ({"directions": "all"}, ConfigError, "'all' needs a corpus template or the corpus sizes"),
        ({"directions": []}, ConfigError, "no directions given"),
        ({"languages": [], "directions": "all"}, ConfigError, "'all' needs the languages"),
        ({"allocation": {"gpus_per_node": 2, "ranks": [TRIANGLE, []]}}, ConfigError, "rank 1 has no task"),
        ({"allocation": {"gpus_per_node": 2, "slots_per_gpu": 2}}, ConfigError, "= 4 slots cannot hold 6 tasks"),
    ],
)
def test_bad_input_errors(fields: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        resolve_plan(_meta(**fields))


def test_fingerprint_ignores_weights_but_not_sharing() -> None:
    base = resolve_plan(_meta(), sizes={(EN, DE): 5, (DE, EN): 1, (EN, FR): 1, (FR, EN): 1, (DE, FR): 1, (FR, DE): 1})
    reweighted = resolve_plan(_meta(temperature=5.0, curriculum={"en-de": 100}))
    assert [t.weight for t in base.tasks] != [t.weight for t in reweighted.tasks]
    assert base.fingerprint() == reweighted.fingerprint()
    assert len(base.fingerprint()) == 64
    assert resolve_plan(_meta(enc_sharing=["LANGUAGE"])).fingerprint() != base.fingerprint()
    assert resolve_plan(_meta(dec_layers=[4])).fingerprint() != base.fingerprint()
    assert resolve_plan(_meta(allocation={"gpus_per_node": 2})).fingerprint() != base.fingerprint()


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_plan_round_trips(tmp_path: Path, suffix: str) -> None:
    plan = resolve_plan(_meta(**preset("partial", encoder_layers=2, decoder_layers=1), allocation={"gpus_per_node": 2}))
    plan.save(tmp_path / f"plan{suffix}")
    loaded = Plan.load(tmp_path / f"plan{suffix}")
    assert loaded == plan
    assert loaded.fingerprint() == plan.fingerprint()


def test_plan_is_frozen_and_checks_its_layout() -> None:
    plan = resolve_plan(_meta())
    with pytest.raises(ValidationError):
        plan.nodes = 2  # type: ignore[misc]
    data = plan.model_dump(mode="json") | {"procs_per_node": 2}
    with pytest.raises(ValidationError, match="ranks lists 1 ranks but nodes × procs_per_node = 2"):
        Plan.model_validate(data)


def test_world_size_check() -> None:
    plan = resolve_plan(_meta(allocation={"nodes": 2, "gpus_per_node": 2}))
    assert plan.world_size == 4
    plan.check_world_size(4)
    with pytest.raises(ConfigError, match=r"plan allocates 4 ranks \(2 nodes × 2 procs\) but the job has 3"):
        plan.check_world_size(3)


def test_task_lookup() -> None:
    plan = resolve_plan(_meta())
    assert plan.task("eng_Latn-deu_Latn") is plan.task("en-de")
    with pytest.raises(ConfigError, match=r"'en-cs' \(eng_Latn-ces_Latn\) is not in the plan"):
        plan.task("en-cs")


def test_zero_shot_direction_is_composed_from_trained_modules() -> None:
    plan = resolve_plan(_meta(directions=["en-de", "de-en", "fr-en"], **preset("independent", encoder_layers=1, decoder_layers=1)))
    trained, zero_shot = plan.direction("en", "de")
    assert (trained, zero_shot) == (plan.task("en-de"), False)
    fr_de, zero_shot = plan.direction("fr", "deu_Latn")
    assert zero_shot is True
    assert (fr_de.name, fr_de.weight) == (f"{FR}-{DE}", 0.0)
    assert fr_de.encoder == ["encoder/0/fra_Latn"] and fr_de.decoder == ["decoder/0/deu_Latn"]
    # no decoder into French was ever trained
    with pytest.raises(ConfigError, match="deu_Latn-fra_Latn needs module\\(s\\) never trained: decoder/0/fra_Latn"):
        plan.direction("de", "fr")


def test_zero_shot_errors_for_target_dependent_encoder_and_unknown_language() -> None:
    plan = resolve_plan(_meta(directions=["en-de", "fr-en"], enc_sharing=["TGT_LANGUAGE"], dec_sharing=["FULL"]))
    with pytest.raises(ConfigError, match="never trained: encoder/0/fra_Latn"):
        plan.direction("en", "fr")
    with pytest.raises(ConfigError, match=r"language 'cs' \(ces_Latn\) is not in the plan"):
        plan.direction("en", "cs")
    with pytest.raises(ConfigError, match="unknown language code 'xx'"):
        plan.direction("xx", "en")
