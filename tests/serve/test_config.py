"""Serve settings: defaults < MTFORGE_SERVE_* variables < flags; errors name the setting; the
Kubernetes Deployment's command and environment are settings the server accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mtforge.cli import build_parser
from mtforge.errors import ConfigError
from mtforge.serve.cli import cmd_serve
from mtforge.serve.config import ENV_PREFIX, ServeConfig, container_cpus, load_serve_config

ROOT = Path(__file__).resolve().parents[2]


def test_flags_win_over_environment_which_wins_over_defaults() -> None:
    env = {"MTFORGE_SERVE_MODEL": "models:/mt@champion", "MTFORGE_SERVE_BEAM_SIZE": "2",
           "MTFORGE_SERVE_BATCHING": "false", "MTFORGE_SERVE_PRELOAD": "eng_Latn-deu_Latn, deu_Latn-eng_Latn",
           "PATH": "/bin"}
    config = load_serve_config({"beam_size": 5, "port": None}, environ=env)
    assert (config.model, config.beam_size, config.batching, config.port) == ("models:/mt@champion", 5, False, 8080)
    assert config.preload == ["eng_Latn-deu_Latn", "deu_Latn-eng_Latn"]


@pytest.mark.parametrize("env,overrides,needle", [
    ({"MTFORGE_SERVE_BATCH_SIZE": "8"}, {"model": "m"}, "MTFORGE_SERVE_BATCH_SIZE"),
    ({}, {}, "--model"),
    ({"MTFORGE_SERVE_BEAM_SIZE": "wide"}, {"model": "m"}, "beam_size"),
    ({}, {"model": "m", "ab_share_b": 1.5}, "ab_share_b"),
    ({}, {"model": "m", "vocab_b": "x"}, "vocab_b"),
])
def test_bad_settings_name_the_setting(env: dict, overrides: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_serve_config(overrides, environ=env)


def test_every_setting_is_a_flag_of_mtforge_serve() -> None:
    args = build_parser().parse_args(["serve", "--model", "m", "--no-batching", "--quantize", "--preload", "a-b,c-d",
                                      "--max-wait-ms", "2.5", "--redis-url", "redis://r:6379/0"])
    assert args.func is cmd_serve
    given = {name: getattr(args, name) for name in ServeConfig.model_fields}
    config = load_serve_config(given, environ={})
    assert (config.batching, config.quantize, config.preload, config.max_wait_ms, config.redis_url) == \
        (False, True, ["a-b", "c-d"], 2.5, "redis://r:6379/0")


def test_threads_default_to_the_cpus_this_process_may_use() -> None:
    import os

    assert 1 <= container_cpus() <= len(os.sched_getaffinity(0))


def _deployment_container() -> dict:
    docs = list(yaml.safe_load_all((ROOT / "manifests" / "serving" / "deployment.yaml").read_text()))
    deployment = next(d for d in docs if d and d.get("kind") == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_the_deployments_command_and_environment_are_accepted_by_the_server() -> None:
    container = _deployment_container()
    assert container["command"][:2] == ["mtforge", "serve"]
    args = [a.replace("$(MTFORGE_SERVE_MODEL)", "models:/mt@champion") for a in container["args"]]
    parsed = build_parser().parse_args(["serve", *args])
    env = {e["name"]: str(e.get("value", "1")) for e in container.get("env", [])}
    serve_env = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    assert serve_env, "the Deployment configures the server through MTFORGE_SERVE_* variables"
    config = load_serve_config({name: getattr(parsed, name) for name in ServeConfig.model_fields},
                               environ={k: v for k, v in serve_env.items() if k != "MTFORGE_SERVE_REDIS_URL"})
    port = next(p["containerPort"] for p in container["ports"])
    assert (config.host, config.port) == ("0.0.0.0", port)
