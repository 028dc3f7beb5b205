#!/usr/bin/env python3
"""compat backend: a text-to-image batch on SGLang's diffusion engine (one model load, many prompts).

Launched once per configuration, one process (SGLang starts its own GPU workers):

    python3 backends/sglang/batch_text_to_image.py \
        --model Qwen/Qwen-Image-2512 --prompt-file P --output DIR --num-inference-steps 30 \
        --height 1024 --width 1024 --cfg-scale 4.0 --seed 42 --negative-prompt "" --warmup 1 \
        --num-gpus 2 [SGLang flags, e.g. --ulysses-degree 2 --enable-cache-dit]

or, to ask the installed SGLang what it can do (no weights, no GPU, seconds):

    python3 backends/sglang/batch_text_to_image.py --probe REQUEST.json --output ANSWER.json

Checked against the released wheel sglang-0.5.23 (PyPI; backends/engine-wheels.txt),
whose file:line (under sglang/multimodal_gen/) are cited below. The code the
``sglang generate`` command runs (runtime/entrypoints/cli/generate.py:156-216):

* flags: SGLang's own parser, built as generate.py:85-86 builds it --
  ``ServerArgs.add_cli_args`` then ``SamplingParams.add_cli_args`` on a
  ``FlexibleArgumentParser`` -- so feature flags keep SGLang's spelling and a
  flag that parser does not know is rejected (exit 2): ``--tp-size``
  (runtime/server_args/server_args.py:2488), ``--ulysses-degree`` (2500),
  ``--ring-degree`` (2506), ``--cfg-parallel-size`` (2548),
  ``--enable-torch-compile`` (2614), ``--dit-cpu-offload`` (2758),
  ``--dit-layerwise-offload`` (2787), ``--quantization`` (3015),
  ``--enable-teacache`` / ``--enable-cache-dit`` (configs/sample/
  sampling_params.py:1152, 1156). A flag of ServerArgs goes to the load, one of
  SamplingParams to every request;
* ``DiffGenerator.from_pretrained(model_path=..., **server_args)``
  (runtime/entrypoints/diffusion_generator.py:124-148; ServerArgs.from_kwargs,
  server_args.py:3847-3865, is ``cls(**kwargs)``: an unknown keyword is a
  TypeError) -- the one timed load; it starts SGLang's scheduler and GPU worker
  processes;
* ``generator.generate(sampling_params_kwargs={...})`` (diffusion_generator.py:242)
  -> ``GenerationResult`` (runtime/entrypoints/utils.py:192-213), one call per
  prompt with ``seed = seed + i``. The keywords become
  ``type(model_defaults)(**kwargs)`` (sampling_params.py:1102): an unknown one
  is a TypeError. ``return_file_paths_only`` defaults to True
  (sampling_params.py:463), which returns a path and no pixels: the adapter sets
  it and ``save_output`` False, so the image comes back as ``frames[0]`` (uint8
  HWC, utils.py:1164-1189) and is written by compat's save_image. On failure
  generate logs the exception and returns None (diffusion_generator.py:453-454,
  478-479): a None is that prompt's ``ok: false`` with an error line, never a gap;
* compat's negative prompt is always passed, "" included: Qwen-Image-2512's own
  default is a long Chinese string (configs/sample/qwenimage.py:18-20) that
  would otherwise change every image and every CFG timing.

Hidden acceleration, pinned off unless a feature's flags set it (what the engine
then really resolved goes into the ``settings`` event, ``enabled``). compat's
command (features.toml) passes all but the SP pin itself, so a dry run shows
them; the adapter adds any that are missing (a hand-written command):

* ``--performance-mode manual``: the default ``auto`` (server_args.py:348, flag
  at 2411) lets the auto-tuner change offload/FSDP/residency
  (server_args.py:680-694, auto_tune.py:638-639) and turn breakable CUDA graphs
  on (server_args.py:867-890), which also silently disables Cache-DiT
  (pipelines_core/stages/denoising.py:1006-1013);
* ``--enable-cfg-parallel false``: with 2+ GPUs and no SP flag SGLang turns
  CFG-parallel on by itself for CFG models (server_args.py:1685-1723); a
  feature's ``--cfg-parallel-size`` supersedes it (1676-1681);
* ``--sp-degree 1`` when no SP flag is given: otherwise leftover GPUs become
  sequence parallelism, at degree 2 as the K/V-gather exchange
  (server_args.py:1731-1763);
* ``--encoder-parallel replicate``: the default ``auto`` folds the text
  encoder over a multi-rank replica (server_args.py:2511-2526, 382);
* ``--warmup-mode off``: torch.compile switches SGLang's own startup warm-up on
  (server_args.py:1569-1575); compat runs its own untimed warm-up.

Cache-DiT: ``--enable-cache-dit`` turns it on per request (sampling_params.py:404)
and the adapter also sets ``SGLANG_CACHE_DIT_ENABLED=true`` (envs.py:73, read
lazily, envs.py:393) before the load, so the server-wide default the engine
consults at init (server_args.py:886, 4179) agrees. SGLang 0.5.23 reports no
cache counters (GenerationResult.metrics holds stage and step timings,
runtime/utils/perf_logger.py:92-105), so there is no ``work`` event.

TeaCache: ``--enable-teacache`` only acts where the model's sampling defaults
carry ``teacache_params``; elsewhere the DiT returns before deciding anything
(runtime/cache/teacache.py:272-276) -- Qwen-Image, FLUX, SD3 have none, so it
would run as a silent no-op. The adapter refuses it there (exit 2; the probe
answers unsupported) with that reason.

Protocol (compat DESIGN.md §4): ``prompt_{i:02d}.png`` and ``results.jsonl``
(one line per prompt; ``load``, ``settings``, ``warmup`` and ``memory``
events), flushed line by line; the log gets ``  Prompt N: X seconds``. Peak
memory is the engine's own ``GenerationResult.peak_memory_mb``: torch's peak
reserved bytes of the output rank's worker (runtime/managers/gpu_worker.py:
529-537) -- the GPU work runs in SGLang's worker processes, not in this one.

Exit codes:
  0  setup succeeded and at least one prompt produced an image
  1  setup failed (prompt file unreadable, sglang missing, model load failed)
     -- or every prompt failed
  2  bad usage: a flag SGLang's parser does not accept, a flag that sets what
     the adapter sets itself, TeaCache on a model without TeaCache, an empty
     prompt file
Probe: 0 answered, 2 bad request, 3 sglang not importable.

sglang is imported inside functions, so ``--help`` works without it.
"""

from __future__ import annotations

import argparse
import difflib
import os
import struct
import sys
import time
import traceback
import zlib
from pathlib import Path
from typing import Any, Callable

# The release this adapter is checked against (backends/engine-wheels.txt).
SGLANG_VERSION = "0.5.23"
SUPPORTED_TEXT = "sglang 0.5.23 (sglang.multimodal_gen)"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# Options this adapter sets from compat's own flags (or must keep, so that one
# generate call is one image of one prompt, returned as pixels). A feature flag
# that sets one of them is a usage error. dest -> what to use instead.
OWNED_OPTIONS: dict[str, str] = {
    "model_path": "--model",
    "prompt": "the prompt file (--prompt-file)",
    "prompt_path": "--prompt-file (one prompt per line)",
    "prompt_file_path": "--prompt-file (one prompt per line)",
    "negative_prompt": "--negative-prompt",
    "seed": "--seed (prompt i uses seed + i)",
    "height": "--height",
    "width": "--width",
    "num_inference_steps": "--num-inference-steps",
    "guidance_scale": "--cfg-scale",
    "num_outputs_per_prompt": "one image per prompt",
    "output_path": "--output",
    "output_file_name": "prompt_NN.png (--output)",
    "save_output": "nothing (the adapter saves prompt_NN.png itself)",
    "return_file_paths_only": "nothing (the adapter needs the pixels)",
}

# Hidden acceleration pinned off unless a feature's flags set it (module
# docstring): dest -> (argv, the dests that count as "set by a feature").
PINS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "performance_mode": (["--performance-mode", "manual"], ("performance_mode",)),
    # --enable-cfg-parallel false, not --cfg-parallel-size 1: the size a
    # cfg_parallel feature passes supersedes the boolean (server_args.py:1676-1681).
    "enable_cfg_parallel": (["--enable-cfg-parallel", "false"], ("cfg_parallel_degree", "enable_cfg_parallel")),
    "sp_degree": (["--sp-degree", "1"], ("sp_degree", "ulysses_degree", "ring_degree", "kv_gather_degree")),
    "encoder_parallel": (["--encoder-parallel", "replicate"], ("encoder_parallel",)),
    "warmup_mode": (["--warmup-mode", "off"], ("warmup_mode",)),
}

# What the engine resolved, read back from the generator's ServerArgs after the
# load (its __post_init__ applies every auto rule): the settings event's "enabled".
RESOLVED_FIELDS = (
    "performance_mode", "num_gpus", "tp_size", "sp_degree", "ulysses_degree", "ring_degree",
    "kv_gather_degree", "sp_split_auto", "dp_size", "enable_cfg_parallel", "cfg_parallel_degree",
    "encoder_parallel", "use_fsdp_inference", "enable_torch_compile", "enable_breakable_cuda_graph",
    "warmup_mode", "dit_cpu_offload", "dit_layerwise_offload", "text_encoder_cpu_offload",
    "vae_cpu_offload", "quantization", "cache_dit_config", "backend", "attention_backend",
)

CACHE_DIT_ENV = "SGLANG_CACHE_DIT_ENABLED"


class UsageError(Exception):
    """Bad command line: exit 2."""


def _load_protocol() -> Any:
    """backends/protocol.py, imported by this file's own path: the script still
    runs from a checkout with nothing installed."""
    import importlib.util  # noqa: PLC0415

    path = Path(__file__).resolve().parent.parent / "protocol.py"
    spec = importlib.util.spec_from_file_location("compat_backend_protocol", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules.setdefault("compat_backend_protocol", module)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


PROTOCOL = _load_protocol()
positive_int = PROTOCOL.positive_int
non_negative_int = PROTOCOL.non_negative_int
read_prompts = PROTOCOL.read_prompts
Results = PROTOCOL.Results
save_image = PROTOCOL.save_image
error_line = PROTOCOL.error_text


# ------------------------------------------------------------------ arguments


_Once = PROTOCOL.Once


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(
            f"Generate one image per prompt with SGLang's diffusion engine ({SUPPORTED_TEXT}), "
            "loading the model once. Writes prompt_NN.png and results.jsonl into --output. Every "
            "other flag goes to SGLang's own parser (ServerArgs + SamplingParams, as `sglang "
            "generate` builds it), e.g. --num-gpus 2 --ulysses-degree 2 --enable-cache-dit. "
            "--probe REQUEST --output ANSWER asks the installed sglang what it supports."
        ),
        allow_abbrev=False,
    )
    p.add_argument("--model", required=True, action=_Once, help="Hugging Face id or local folder")
    p.add_argument("--prompt-file", required=True, action=_Once, help="UTF-8 text file, one prompt per line")
    p.add_argument("--output", required=True, action=_Once, help="output directory (created if missing)")
    p.add_argument("--num-inference-steps", type=positive_int, default=50, action=_Once)
    p.add_argument("--height", type=positive_int, default=1024, action=_Once)
    p.add_argument("--width", type=positive_int, default=1024, action=_Once)
    p.add_argument("--cfg-scale", type=float, default=4.0, action=_Once,
                   help="SGLang's guidance_scale (Qwen-Image: the CFG scale)")
    p.add_argument("--seed", type=int, default=42, action=_Once, help="prompt i uses seed + i")
    p.add_argument("--negative-prompt", default="", action=_Once,
                   help="always passed, \"\" included (Qwen-Image-2512's own default is not empty)")
    p.add_argument("--warmup", type=non_negative_int, default=1, action=_Once,
                   help="untimed generations of the first prompt before the batch (default 1)")
    return p


COMPAT_FLAGS = (
    "--model", "--prompt-file", "--output", "--num-inference-steps", "--height", "--width",
    "--cfg-scale", "--seed", "--negative-prompt", "--warmup",
)


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    return PROTOCOL.split_argv(argv, COMPAT_FLAGS)


def parse_compat_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    ours, rest = split_argv(argv)
    return build_parser().parse_args(ours), rest


class EngineParsers:
    """SGLang's parser as `sglang generate` builds it (generate.py:85-86), and
    which destinations belong to ServerArgs (the load) and which to
    SamplingParams (every request). Its errors raise UsageError."""

    def __init__(self, flexible: Any, add_server: Callable[[Any], Any], add_sampling: Callable[[Any], Any]) -> None:
        def make(*adders: Callable[[Any], Any]) -> Any:
            parser = flexible(prog="sglang")
            for add in adders:
                add(parser)

            def fail(message: str) -> None:
                raise UsageError(message)

            parser.error = fail  # type: ignore[method-assign]
            return parser

        self.parser = make(add_server, add_sampling)
        self.server_dests = {a.dest for a in make(add_server)._actions}
        self.sampling_dests = {a.dest for a in make(add_sampling)._actions} - self.server_dests


def engine_parsers() -> EngineParsers:
    from sglang.multimodal_gen.configs.sample.sampling_params import SamplingParams  # noqa: PLC0415
    from sglang.multimodal_gen.runtime.server_args import ServerArgs  # noqa: PLC0415
    from sglang.multimodal_gen.runtime.utils.argparse import FlexibleArgumentParser  # noqa: PLC0415

    return EngineParsers(FlexibleArgumentParser, ServerArgs.add_cli_args, SamplingParams.add_cli_args)


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET = _Unset()


def _hint(message: str, parser: Any) -> str:
    known = [s for s in getattr(parser, "_option_string_actions", {}) if s.startswith("--")]
    hints = []
    if "unrecognized arguments:" in message:
        for token in message.split("unrecognized arguments:", 1)[1].split():
            if token.startswith("-"):
                name = "--" + token.split("=", 1)[0].lstrip("-").replace("_", "-")
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
                if close:
                    hints.append(f"{token}: did you mean {close[0]}?")
    return ("; " + "; ".join(hints)) if hints else ""


def _parse(parsers: EngineParsers, argv: list[str], namespace: Any = None) -> argparse.Namespace:
    try:
        return parsers.parser.parse_args(list(argv), namespace=namespace)
    except (UsageError, ValueError) as exc:  # StoreBoolean raises ValueError for a bad value
        raise UsageError(
            f"SGLang's parser (ServerArgs + SamplingParams, sglang {SGLANG_VERSION}) rejected "
            f"{' '.join(argv) or 'the settings'}: {exc}{_hint(str(exc), parsers.parser)}"
        ) from None


def explicit_dests(parsers: EngineParsers, features: list[str]) -> set[str]:
    """The destinations the feature flags set, however they are spelled
    (aliases, underscores, abbreviations): every destination starts as UNSET,
    and argparse only writes what the argv names."""
    dests = {a.dest for a in parsers.parser._actions if a.dest != "help"}
    ns = argparse.Namespace(**{d: UNSET for d in dests})
    parsed = _parse(parsers, features, ns)
    return {d for d in dests if getattr(parsed, d, UNSET) is not UNSET}


class EnginePlan:
    """What one configuration gives SGLang: keywords for from_pretrained, the
    feature keywords of every request, the pins applied, the environment."""

    def __init__(self, server: dict[str, Any], sampling: dict[str, Any], pinned: dict[str, Any],
                 env: dict[str, str]) -> None:
        self.server = server
        self.sampling = sampling
        self.pinned = pinned
        self.env = env


def plan_engine(args: argparse.Namespace, features: list[str], parsers: EngineParsers) -> EnginePlan:
    """compat's settings + the feature flags, through SGLang's own parser.
    Raises UsageError for a flag it rejects or one that sets an option the
    adapter owns."""
    explicit = explicit_dests(parsers, features)
    for dest, instead in OWNED_OPTIONS.items():
        if dest in explicit:
            raise UsageError(f"feature flags set SGLang's {dest!r}; the adapter sets it itself -- use {instead}")
    pin_argv: list[str] = []
    pinned: dict[str, Any] = {}
    for dest, (argv, owners) in PINS.items():
        if not explicit.intersection(owners):
            pin_argv += argv
            pinned[dest] = argv[-1]
    # Pins first: should one ever overlap a feature flag, the feature's wins.
    ns = _parse(parsers, pin_argv + list(features))
    server: dict[str, Any] = {"model_path": args.model}
    sampling: dict[str, Any] = {}
    for dest in sorted(explicit | set(pinned)):
        value = getattr(ns, dest)
        if dest in parsers.server_dests:
            server[dest] = value
        elif dest in parsers.sampling_dests:
            sampling[dest] = value
    # Every pin in force, whether compat's command or the adapter set it, and
    # not superseded by a feature (--cfg-parallel-size over --enable-cfg-parallel).
    pinned = {dest: server[dest] for dest, (argv, owners) in PINS.items()
              if dest in server and str(server[dest]).lower() == argv[-1]
              and not explicit.intersection(set(owners) - {dest})}
    env: dict[str, str] = {}
    if sampling.get("enable_cache_dit"):
        env[CACHE_DIT_ENV] = "true"
    return EnginePlan(server, sampling, pinned, env)


def request_kwargs(args: argparse.Namespace, plan: EnginePlan, prompt: str, seed: int) -> dict[str, Any]:
    """One generate() call's sampling_params_kwargs: compat's settings, the
    features' request keywords, and the pixels back instead of a file path."""
    kwargs = dict(plan.sampling)
    kwargs.update({
        "prompt": prompt,
        "negative_prompt": args.negative_prompt,  # always, "" included
        "seed": seed,
        "height": args.height,
        "width": args.width,
        "num_inference_steps": args.num_inference_steps,
        "guidance_scale": float(args.cfg_scale),
        "num_outputs_per_prompt": 1,
        "save_output": False,
        "return_file_paths_only": False,
    })
    return kwargs


# ------------------------------------------------------------------ the model


def teacache_refusal(model: str) -> str | None:
    """Why --enable-teacache would be a silent no-op on `model`, or None when
    it acts (or SGLang does not know the model: the load decides)."""
    try:
        from sglang.multimodal_gen.registry import get_model_info  # noqa: PLC0415

        info = get_model_info(model)
    except Exception:  # noqa: BLE001 - an unknown model is the load's to refuse
        return None
    if info is None:
        return None
    params_cls = info.sampling_param_cls
    try:
        params = params_cls()
    except Exception:  # noqa: BLE001
        return None
    if getattr(params, "teacache_params", None) is None:
        return (f"{model}: {params_cls.__name__} has no teacache_params, so --enable-teacache is a silent "
                "no-op (the DiT returns before any decision, runtime/cache/teacache.py:272-276)")
    return None


# -------------------------------------------------------------------- images


class PngImage:
    """An 8-bit RGB(A)/grey image from rows of pixel lists, saved as PNG with the
    standard library (where NumPy/Pillow are absent)."""

    def __init__(self, rows: list[list[Any]]) -> None:
        self.rows = rows

    def save(self, path: str) -> None:
        height = len(self.rows)
        width = len(self.rows[0]) if height else 0
        first = self.rows[0][0] if height and width else 0
        channels = len(first) if isinstance(first, (list, tuple)) else 1
        color = {1: 0, 3: 2, 4: 6}.get(channels)
        if color is None or height == 0 or width == 0:
            raise ValueError(f"cannot write a {height}x{width}x{channels} image as PNG")
        raw = bytearray()
        for row in self.rows:
            raw.append(0)
            for px in row:
                values = px if isinstance(px, (list, tuple)) else [px]
                raw.extend(max(0, min(255, int(v))) for v in values)

        def chunk(kind: bytes, body: bytes) -> bytes:
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
        data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
        with open(path, "wb") as f:
            f.write(data)


def to_image(frame: Any) -> Any:
    """One frame SGLang materialized (uint8 HWC, utils.py:1164-1189) as
    something with .save(path). Never tests an array's truth value."""
    if callable(getattr(frame, "save", None)):
        return frame
    if getattr(frame, "ndim", 3) == 4:  # THWC with T == 1
        frame = frame[0]
    try:
        import numpy as np  # noqa: PLC0415
        from PIL import Image  # noqa: PLC0415
    except ImportError:
        np = None
    if np is not None:
        a = np.asarray(frame)
        if a.dtype != np.uint8:
            a = a.clip(0, 255).astype(np.uint8)
        if a.ndim == 3 and a.shape[-1] == 1:
            a = a[..., 0]
        return Image.fromarray(a)
    return PngImage(frame.tolist())


class EngineFailure(Exception):
    """The engine reported no image for a request."""


def result_image(output: Any) -> tuple[Any, Any]:
    """(image, GenerationResult) of one generate() call. None is the engine's
    failure (logged by it, diffusion_generator.py:453-454, 478-479)."""
    if output is None:
        raise EngineFailure(
            "DiffGenerator.generate returned None: the engine failed this request "
            "(its log has the traceback, diffusion_generator.py:453-454)"
        )
    if isinstance(output, list):
        if len(output) == 0:
            raise EngineFailure("DiffGenerator.generate returned no result")
        output = output[0]
    frames = getattr(output, "frames", None)
    if frames is None or len(frames) == 0:
        path = getattr(output, "output_file_path", None)
        raise EngineFailure(f"the result has no frames (output_file_path={path!r}): nothing to save")
    return to_image(frames[0]), output


# -------------------------------------------------------------------- the batch


def resolved(generator: Any) -> dict[str, Any]:
    """What the engine enabled, read back from its resolved ServerArgs."""
    server_args = getattr(generator, "server_args", None)
    out: dict[str, Any] = {}
    for name in RESOLVED_FIELDS:
        if hasattr(server_args, name):
            value = getattr(server_args, name)
            out[name] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return out


def run_batch(generator: Any, args: argparse.Namespace, plan: EnginePlan, prompts: list[str],
              results: Any, out_dir: Path, log: Callable[[str], None]) -> tuple[int, list[float]]:
    """Warm-up, then one generate() per prompt. Returns (images, peak MB of every call)."""
    peaks: list[float] = []

    def note_peak(result: Any) -> None:
        mb = getattr(result, "peak_memory_mb", None)
        if isinstance(mb, (int, float)) and mb > 0:
            peaks.append(float(mb))

    if args.warmup > 0:
        t0 = time.perf_counter()
        try:
            for _ in range(args.warmup):
                _, result = result_image(generator.generate(
                    sampling_params_kwargs=request_kwargs(args, plan, prompts[0], args.seed)))
                note_peak(result)
            results.write({"event": "warmup", "seconds": round(time.perf_counter() - t0, 4)})
        except Exception as exc:  # noqa: BLE001 - the batch still runs
            traceback.print_exc()
            results.write({"event": "warmup", "seconds": None, "ok": False, "error": error_line(exc)})

    ok_count = 0
    for i, prompt in enumerate(prompts):
        name = f"prompt_{i:02d}.png"
        t0 = time.perf_counter()
        try:
            image, result = result_image(generator.generate(
                sampling_params_kwargs=request_kwargs(args, plan, prompt, args.seed + i)))
            seconds = time.perf_counter() - t0
            note_peak(result)
            save_image(image, out_dir / name)  # whole, on disk, before its ok line
        except Exception as exc:  # noqa: BLE001 - one prompt's failure never ends the batch
            traceback.print_exc()
            results.write({"prompt": i, "image": None, "seconds": None, "ok": False, "error": error_line(exc)})
            log(f"  Prompt {i + 1}: failed ({error_line(exc)})")
            continue
        line: dict[str, Any] = {"prompt": i, "image": name, "seconds": round(seconds, 4), "ok": True}
        engine_seconds = getattr(result, "generation_time", None)
        if isinstance(engine_seconds, (int, float)) and engine_seconds > 0:
            line["sglang_seconds"] = round(float(engine_seconds), 4)
        results.write(line)
        log(f"  Prompt {i + 1}: {seconds:.4f} seconds")
        ok_count += 1
    return ok_count, peaks


def installed_version(module: Any) -> str:
    return PROTOCOL.engine_identity("sglang", module).get("version") or "unknown"


# ---------------------------------------------------------------------- probe


def probe_settings(settings: dict[str, Any]) -> argparse.Namespace:
    def num(key: str, default: Any, kind: Any) -> Any:
        value = settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PROTOCOL.BadProbeRequest(f"settings.{key} must be a number, got {value!r}")
        return kind(value)

    return argparse.Namespace(
        model=None, prompt_file=None, output=".", negative_prompt="", warmup=0, seed=num("seed", 42, int),
        num_inference_steps=num("steps", 30, int), height=num("height", 1024, int),
        width=num("width", 1024, int), cfg_scale=num("cfg_scale", 4.0, float),
    )


def cache_dit_refusal() -> str | None:
    import importlib.util  # noqa: PLC0415

    if importlib.util.find_spec("cache_dit") is None:
        return "the cache_dit package is not installed (SGLang's Cache-DiT runs it)"
    return None


def probe_feature(args: argparse.Namespace, fragment: list[str], parsers: EngineParsers) -> dict[str, Any]:
    """One feature: SGLang's parser and the adapter's checks -- what a run of
    this feature would meet before the load."""
    try:
        plan = plan_engine(args, list(fragment), parsers)
    except UsageError as exc:
        return {"supported": False, "reason": str(exc)}
    reason = None
    if plan.sampling.get("enable_teacache"):
        reason = teacache_refusal(args.model)
    if reason is None and plan.sampling.get("enable_cache_dit"):
        reason = cache_dit_refusal()
    # compat itself puts "sglang <version>: " before a reason (docs/probe.md).
    if reason:
        return {"supported": False, "reason": reason}
    return {"supported": True}


def probe_main(request_path: str, output_path: str) -> int:
    try:
        request = PROTOCOL.read_probe_request(request_path)
        args = probe_settings(request["settings"])
    except PROTOCOL.BadProbeRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return PROTOCOL.PROBE_BAD_REQUEST
    try:
        import sglang  # noqa: PLC0415

        parsers = engine_parsers()
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        return PROTOCOL.not_importable("sglang", exc)
    identity = PROTOCOL.engine_identity("sglang", sglang)
    version = identity.get("version") or "unknown"
    args.model = request["model"]
    notes = [f"adapter checked against {SUPPORTED_TEXT}",
             "pinned off unless a feature sets them: " + ", ".join(" ".join(a) for a, _ in PINS.values())]
    if version != SGLANG_VERSION:
        notes.append(f"sglang {version} is not the release the adapter was checked against ({SGLANG_VERSION})")
    features = {name: probe_feature(args, fragment, parsers)
                for name, fragment in request["features"].items()}
    answer = PROTOCOL.probe_answer("sglang", identity, request["model"], features, notes)
    return PROTOCOL.write_probe_answer(output_path, answer)


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    probed = PROTOCOL.probe_if_asked(raw, probe_main)
    if probed is not None:
        return probed
    args, features = parse_compat_args(raw)

    def log(message: str) -> None:
        print(message, flush=True)

    try:
        prompts = read_prompts(args.prompt_file)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read prompt file {args.prompt_file}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not prompts:
        print(f"error: prompt file {args.prompt_file} has no prompts", file=sys.stderr)
        return EXIT_USAGE

    try:
        import sglang  # noqa: PLC0415

        parsers = engine_parsers()
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        traceback.print_exc()
        print(f"error: cannot import sglang ({SUPPORTED_TEXT}): {error_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    version = installed_version(sglang)

    try:
        plan = plan_engine(args, features, parsers)
        if plan.sampling.get("enable_teacache"):
            refusal = teacache_refusal(args.model)
            if refusal:
                raise UsageError(f"TeaCache refused: {refusal}")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE

    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = Results(out_dir / "results.jsonl")
    generator = None
    try:
        log(f"SGLang diffusion batch (sglang {version}; checked against {SGLANG_VERSION})")
        log(f"  model={args.model} prompts={len(prompts)} steps={args.num_inference_steps} "
            f"size={args.width}x{args.height} cfg_scale={args.cfg_scale} seed={args.seed}")
        log(f"  SGLang flags: {' '.join(features) or '(none)'}; pinned: "
            + (", ".join(f"{k}={v}" for k, v in plan.pinned.items()) or "(none)"))
        os.environ.update(plan.env)  # before the load: the workers inherit it

        from sglang.multimodal_gen import DiffGenerator  # noqa: PLC0415

        t0 = time.perf_counter()
        try:
            generator = DiffGenerator.from_pretrained(**plan.server)
        except Exception as exc:  # noqa: BLE001 - any load failure is a setup failure
            traceback.print_exc()
            print(f"error: model load failed: {error_line(exc)}", file=sys.stderr, flush=True)
            results.write({"event": "load", "seconds": None, "ok": False, "error": error_line(exc)})
            return EXIT_FAILED
        load_seconds = time.perf_counter() - t0
        results.write({"event": "load", "seconds": round(load_seconds, 4)})
        results.write({
            "event": "settings",
            "backend": "sglang",
            "engine": PROTOCOL.engine_record("sglang", sglang),
            "checked_against": SGLANG_VERSION,
            "server_args": {k: v for k, v in plan.server.items()},
            "request": {k: v for k, v in plan.sampling.items()},
            "pinned": plan.pinned,
            "environment": plan.env,
            "enabled": resolved(generator),
            "negative_prompt": args.negative_prompt,
        })
        log(f"Model loaded in {load_seconds:.2f} seconds")

        ok_count, peaks = run_batch(generator, args, plan, prompts, results, out_dir, log)
        if peaks:
            # The engine's own number: peak reserved bytes of the output rank's worker.
            results.write({"event": "memory", "device": 0, "peak_bytes": int(round(max(peaks) * 1024 * 1024))})
        log(f"Done: {ok_count}/{len(prompts)} prompts produced an image")
        return EXIT_OK if ok_count > 0 else EXIT_FAILED
    finally:
        results.close()
        if generator is not None:
            try:
                generator.shutdown()
            except Exception:  # noqa: BLE001
                traceback.print_exc()


if __name__ == "__main__":
    sys.exit(main())
