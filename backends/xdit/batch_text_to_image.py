#!/usr/bin/env python3
"""compat backend: a text-to-image batch on xDiT's unified runner (one model load, many prompts).

Launched once per configuration, one process per GPU:

    torchrun --standalone --nproc_per_node {gpus} backends/xdit/batch_text_to_image.py \
        --model Qwen/Qwen-Image --prompt-file P --output DIR --num-inference-steps 30 \
        --height 1024 --width 1024 --cfg-scale 4.0 --seed 42 --negative-prompt "" --warmup 1 \
        [xDiT runner flags, e.g. --ulysses_degree 2 --ring_degree 2]

Written against xDiT (github.com/xdit-project/xDiT) commit
175e0bfec974d0b44a0be9fa511df2f9f5ead080 (xfuser 0.4.5, 2026-07-14), the code
its own ``xdit`` console script runs (xfuser/cli.py -> xfuser/runner.py):

* flags: xDiT's own parser, built as xfuser/runner.py:116-117 builds it --
  ``xFuserArgs.add_runner_args(FlexibleArgumentParser(...))``
  (xfuser/config/args.py:457-819) -- so feature flags keep xDiT's spelling and
  a flag that parser does not know is rejected (exit 2);
* ``xFuserModelRunner(config: dict)`` (runner.py:36-44): validates the config
  and picks the model class from ``MODEL_REGISTRY``
  (runner_models/base_model.py:54-61); ``runner.preprocess_args(dict)``
  (runner.py:75-77, base_model.py:572-593) applies the model's defaults;
  ``runner.initialize(dict)`` (runner.py:54-64, base_model.py:253-276) loads
  the pipeline -- the one timed load;
* ``runner.run(dict) -> (DiffusionOutput, timings)`` (runner.py:66-73,
  base_model.py:468-507): one call per prompt with ``prompt=[p_i]`` and
  ``seed=seed+i``; the models build ``torch.Generator("cuda").manual_seed(
  input_args["seed"])`` per call (e.g. qwen.py:156), so prompt i's image never
  depends on batch order. ``DiffusionOutput.images`` holds PIL images
  (base_model.py:178-192);
* the last rank saves (``is_last_process()``, core/utils/runner_utils.py:32-40:
  "legacy xDiT models only produce the output on the last GPU").

What the runner itself does differently, and why this adapter exists:
``--dataset_path`` is a CSV with a ``prompt`` column (runner_utils.py:393-401);
every prompt shares one ``--seed``; images are named
``{name}_u{U}r{R}_tc_{compile}_{H}x{W}_{j}.png`` (base_model.py:602-653);
``timings.json`` drops its first entry (base_model.py:502-503); any exception
ends the run.

One more thing the runner misses: ``xFuserModel._validate_config``
(base_model.py:299-308) compares every requested option with the model's
``ModelCapabilities``, but a boolean option is an ``int`` in Python, so
``True > 1`` is False and a boolean the model does not support --
``--use_cfg_parallel`` on Qwen-Image (qwen.py:102-107 declares no CFG
parallelism), ``--use_fbcache`` on anything but FLUX.2 -- is accepted and
silently does nothing. This adapter applies the same capability table with
booleans read as booleans, and refuses such a configuration (exit 2) instead
of timing a no-op.

Protocol (compat DESIGN.md §4): ``prompt_{i:02d}.png`` and ``results.jsonl``
(one line per prompt; ``load``, ``warmup`` and ``memory`` events), written by
the last rank only and flushed line by line; the log gets
``  Prompt N: X seconds`` (1-based).

Ranks never disagree about what comes next: after every runner.run (warm-up or
prompt) all ranks exchange their outcome (one ``all_gather_object`` on a gloo
group of their own), so a prompt that fails on any rank is recorded as
``ok: false`` on the last rank and every rank goes on to the next prompt
together. No rank skips that exchange.

Exit codes (every rank):
  0  setup succeeded and at least one prompt produced an image
  1  setup failed (prompt file unreadable, xfuser/torch missing, model load
     failed) -- or every prompt failed
  2  bad usage: a flag xDiT's parser does not accept, a flag this adapter sets
     itself, a model outside xDiT's registry or not a text-to-image model, an
     option the model's capabilities exclude, an empty prompt file

xfuser and torch are imported inside functions, so ``--help`` works without them.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

XDIT_COMMIT = "175e0bfec974d0b44a0be9fa511df2f9f5ead080"
XDIT_VERSION = "0.4.5"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# Runner options this adapter sets from compat's own flags (or must leave at
# their defaults so that one runner.run is one image of one prompt). A feature
# flag that changes one of them is a usage error. dest -> what to use instead.
OWNED_OPTIONS: dict[str, str] = {
    "model": "--model",
    "prompt": "the prompt file (--prompt-file)",
    "negative_prompt": "--negative-prompt",
    "dataset_path": "--prompt-file (one prompt per line)",
    "seed": "--seed (prompt i uses seed + i)",
    "height": "--height",
    "width": "--width",
    "num_inference_steps": "--num-inference-steps",
    "guidance_scale": "--cfg-scale",
    "warmup_calls": "--warmup (untimed, before the batch)",
    "num_iterations": "one call per prompt",
    "batch_size": "one prompt per call",
    "output_directory": "--output",
    "profile": "nothing (profiling is not a compat feature)",
    "input_images": "nothing (text-to-image only)",
}


class UsageError(Exception):
    """Bad command line: exit 2."""


# ------------------------------------------------------------------ arguments


class _Once(argparse.Action):
    """Store a value; giving the option twice is an error (a feature flag must
    not silently override a setting compat passes, e.g. a second --seed)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, "_seen_" + self.dest, False):
            parser.error(f"{option_string} given twice (compat sets it; a feature must not)")
        setattr(namespace, "_seen_" + self.dest, True)
        setattr(namespace, self.dest, values)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(
            "Generate one image per prompt with xDiT's unified runner, loading the model once "
            f"(targets xDiT {XDIT_VERSION}, commit {XDIT_COMMIT[:7]}). Run under torchrun, one "
            "process per GPU. Writes prompt_NN.png and results.jsonl into --output (last rank). "
            "Every other flag goes to xDiT's own runner parser (xFuserArgs.add_runner_args), "
            "e.g. --ulysses_degree 2 --ring_degree 2 --use_torch_compile --use_fbcache."
        ),
        allow_abbrev=False,
    )
    p.add_argument("--model", required=True, action=_Once,
                   help="a key of xDiT's model registry, e.g. Qwen/Qwen-Image")
    p.add_argument("--prompt-file", required=True, action=_Once, help="UTF-8 text file, one prompt per line")
    p.add_argument("--output", required=True, action=_Once, help="output directory (created if missing)")
    p.add_argument("--num-inference-steps", type=positive_int, default=50, action=_Once)
    p.add_argument("--height", type=positive_int, default=1024, action=_Once)
    p.add_argument("--width", type=positive_int, default=1024, action=_Once)
    p.add_argument("--cfg-scale", type=float, default=4.0, action=_Once,
                   help="xDiT's --guidance_scale (Qwen-Image: true_cfg_scale; FLUX: distilled guidance)")
    p.add_argument("--seed", type=int, default=42, action=_Once, help="prompt i uses seed + i")
    p.add_argument("--negative-prompt", default="", action=_Once,
                   help="passed as is; Qwen-Image runs true CFG when --cfg-scale > 1")
    p.add_argument("--warmup", type=non_negative_int, default=1, action=_Once,
                   help="untimed runner.run calls of the first prompt before the batch (default 1)")
    return p


# compat's own flags, each with one value. Everything else on the command line
# is a feature flag for xDiT's parser.
COMPAT_FLAGS = (
    "--model", "--prompt-file", "--output", "--num-inference-steps", "--height", "--width",
    "--cfg-scale", "--seed", "--negative-prompt", "--warmup",
)


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """compat's flags (as `--flag=value`, so a value such as a negative prompt
    "-blurry" is never read as an option) and the rest, in order."""
    ours: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        name = token.split("=", 1)[0]
        if name in COMPAT_FLAGS:
            if "=" in token or i + 1 >= len(argv):
                ours.append(token)
                i += 1
            else:
                ours.append(f"{token}={argv[i + 1]}")
                i += 2
        elif token in ("-h", "--help"):
            ours.append(token)
            i += 1
        else:
            rest.append(token)
            i += 1
    return ours, rest


def parse_compat_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """compat's flags, and everything else (the feature flags for xDiT), in order."""
    ours, rest = split_argv(argv)
    return build_parser().parse_args(ours), rest


def core_xdit_argv(args: argparse.Namespace) -> list[str]:
    """compat's settings in xDiT's spelling (xfuser/config/args.py:457-819)."""
    return [
        "--model", args.model,
        "--height", str(args.height),
        "--width", str(args.width),
        "--num_inference_steps", str(args.num_inference_steps),
        "--guidance_scale", repr(float(args.cfg_scale)),
        "--seed", str(args.seed),
        "--output_directory", str(args.output),
        "--warmup_calls", "0",
        "--num_iterations", "1",
    ]


def xdit_parser() -> Any:
    """xDiT's runner parser, built exactly as xfuser/runner.py:116-117 builds it.
    Its errors raise UsageError instead of exiting, so the message can say more."""
    from xfuser import xFuserArgs  # noqa: PLC0415
    from xfuser.config import FlexibleArgumentParser  # noqa: PLC0415

    parser = FlexibleArgumentParser(description="xFuser Arguments")
    parser = xFuserArgs.add_runner_args(parser)

    def fail(message: str) -> None:
        raise UsageError(message)

    parser.error = fail  # type: ignore[method-assign]
    return parser


# Flags of xDiT's example scripts (xFuserArgs.add_cli_args) that its runner lacks.
NOT_IN_RUNNER = {
    "--use_teacache": "xDiT's runner has no TeaCache: --use_teacache belongs to the example "
                      "scripts' parser (xFuserArgs.add_cli_args, args.py:225-229), not to "
                      "add_runner_args; its only step cache is --use_fbcache (FLUX.2-dev)",
}


def _hint(message: str, parser: Any) -> str:
    known = [s for s in getattr(parser, "_option_string_actions", {}) if s.startswith("--")]
    hints = []
    if "unrecognized arguments:" in message:
        for token in message.split("unrecognized arguments:", 1)[1].split():
            if token.startswith("-"):
                name = "--" + token.split("=", 1)[0].lstrip("-").replace("-", "_")
                if name in NOT_IN_RUNNER:
                    hints.append(NOT_IN_RUNNER[name])
                    continue
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.9)
                if close:
                    hints.append(f"{token}: did you mean {close[0]}?")
    return ("; " + "; ".join(hints)) if hints else ""


def parse_xdit_args(args: argparse.Namespace, features: list[str], parser: Any = None) -> dict[str, Any]:
    """The runner's config dict: compat's settings plus the feature flags, parsed
    by xDiT's own parser. Raises UsageError for a flag it rejects or for a
    feature flag that changes an option this adapter owns."""
    parser = parser or xdit_parser()
    core = core_xdit_argv(args)
    try:
        base = vars(parser.parse_args(list(core)))
        full = vars(parser.parse_args(list(core) + list(features)))
    except UsageError as exc:
        raise UsageError(
            f"xDiT's runner parser (xFuserArgs.add_runner_args, xDiT {XDIT_VERSION}) rejected "
            f"{' '.join(features) or 'the settings'}: {exc}{_hint(str(exc), parser)}"
        ) from None
    for dest, instead in OWNED_OPTIONS.items():
        if base.get(dest) != full.get(dest):
            raise UsageError(
                f"feature flags set xDiT's {dest!r} ({full.get(dest)!r}); the adapter sets it "
                f"itself -- use {instead}"
            )
    if (full.get("data_parallel_degree") or 1) > 1:
        raise UsageError(
            "--data_parallel_degree > 1 splits a list of prompts between replicas "
            "(base_model.py:1005-1034); this adapter runs one prompt per call"
        )
    if full.get("use_ray"):
        raise UsageError("--use_ray is not supported by the runner adapter")
    config = dict(full)
    # Not xDiT flags: set in the dict, so a negative prompt that starts with "-"
    # never meets a parser, and "" stays "" (nargs="*" cannot pass an empty string).
    config["negative_prompt"] = args.negative_prompt
    return config


# ------------------------------------------------------- model and capabilities


def image_model_keys(registry: dict[str, Any]) -> list[str]:
    return sorted(k for k, cls in registry.items() if _output_type(cls) == "image")


def _output_type(cls: Any) -> str | None:
    settings = getattr(cls, "settings", None)
    return getattr(settings, "model_output_type", None) or getattr(cls, "model_output_type", None)


def requested(value: Any) -> bool:
    """Whether a config value asks for a capability. Booleans are booleans: xDiT's
    own check (base_model.py:303-305) reads True as the int 1 and lets it pass."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value > 1
    return bool(value)


def unsupported_options(model_cls: Any, config: dict[str, Any], capability_fields: list[str]) -> list[str]:
    caps = model_cls.capabilities
    return [key for key in capability_fields if requested(config.get(key)) and not getattr(caps, key, False)]


def check_model(config: dict[str, Any]) -> None:
    """Registry key, text-to-image, and the model's ModelCapabilities
    (base_model.py:104-131) against what the flags ask for."""
    from xfuser.model_executor.models.runner_models.base_model import (  # noqa: PLC0415
        MODEL_REGISTRY,
        ModelCapabilities,
    )

    model = config.get("model")
    cls = MODEL_REGISTRY.get(model)
    if cls is None:
        raise UsageError(
            f"model {model!r} is not in xDiT's model registry; text-to-image keys: "
            + ", ".join(image_model_keys(MODEL_REGISTRY))
        )
    if _output_type(cls) != "image":
        raise UsageError(f"xDiT's {model!r} makes {_output_type(cls)!r} output; compat compares images")
    fields = list(ModelCapabilities.__annotations__.keys())
    missing = unsupported_options(cls, config, fields)
    if missing:
        raise UsageError(
            f"xDiT's {model!r} ({cls.__name__}) does not support "
            + ", ".join(f"{k}={config.get(k)!r}" for k in missing)
            + " (not in its ModelCapabilities; "
            + ("xDiT's own check lets a boolean through, base_model.py:303-305, and the run "
               "would silently go without it)" if all(isinstance(config.get(k), bool) for k in missing)
               else "xDiT's runner refuses it at start-up, base_model.py:305)")
        )


# -------------------------------------------------------------------- prompts


def read_prompts(path: str) -> list[str]:
    """One prompt per line, UTF-8, split on "\\n" only; a "\\r" before it and
    the empty piece after a final newline are dropped; nothing else touched."""
    text = Path(path).read_bytes().decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# -------------------------------------------------------------------- output


class Results:
    """results.jsonl, one JSON object per line, flushed after every line."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "w", encoding="utf-8")

    def write(self, obj: dict[str, Any]) -> None:
        self._f.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._f.flush()
        try:
            os.fsync(self._f.fileno())
        except OSError:
            pass

    def close(self) -> None:
        self._f.close()


class NoResults:
    """What the other ranks write: nothing."""

    def write(self, obj: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def error_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text[:500]


# -------------------------------------------------------------- distributed


def env_rank() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def default_single_process_env() -> None:
    """Without torchrun: one process, as xfuser/runner.py:12-17 does, but on a
    free port (two single-GPU configs on one node must not share 12355)."""
    if os.environ.get("RANK"):
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})


class TorchComm:
    """The ranks' exchange after every call: all_gather_object on a gloo group
    created for it (CPU objects, no device state; xDiT's own groups are NCCL)."""

    def __init__(self) -> None:
        import torch.distributed as dist  # noqa: PLC0415

        self._dist = dist
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self._group = dist.new_group(backend="gloo") if self.world_size > 1 else None

    def all_gather(self, obj: Any) -> list[Any]:
        if self.world_size == 1:
            return [obj]
        out: list[Any] = [None] * self.world_size
        self._dist.all_gather_object(out, obj, group=self._group)
        return out

    def close(self) -> None:
        if self._group is not None:
            try:
                self._dist.destroy_process_group(self._group)
            except Exception:  # noqa: BLE001
                pass


def _torch() -> Any:
    try:
        import torch  # noqa: PLC0415

        return torch
    except ImportError:
        return None


def synchronize() -> None:
    torch = _torch()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()


def release_cache() -> None:
    torch = _torch()
    try:
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001
        pass


def peak_bytes() -> int | None:
    torch = _torch()
    try:
        if torch is None or not torch.cuda.is_available():
            return None
        return int(torch.cuda.max_memory_allocated(torch.cuda.current_device()))
    except Exception:  # noqa: BLE001
        return None


# -------------------------------------------------------------------- the batch


def first_image(output: Any) -> Any:
    images = getattr(output, "images", None) if output is not None else None
    if not images:
        raise RuntimeError("runner.run returned no image on the last rank")
    return images[0]


def call_args(input_args: dict[str, Any], prompt: str, seed: int) -> dict[str, Any]:
    call = dict(input_args)
    call["prompt"] = [prompt]
    call["seed"] = seed
    return call


def agree(comm: Any, status: str | None) -> list[tuple[int, str]]:
    """Every rank's outcome of the call just made: [(rank, error)] of those that failed."""
    return [(r, e) for r, e in enumerate(comm.all_gather(status)) if e is not None]


def failure_text(failed: list[tuple[int, str]], world_size: int) -> str:
    rank, err = failed[0]
    text = f"rank {rank}: {err}" if world_size > 1 else err
    if len(failed) > 1:
        text += f" (and {len(failed) - 1} more rank{'s' if len(failed) > 2 else ''})"
    return text[:600]


def run_batch(
    runner: Any,
    input_args: dict[str, Any],
    prompts: list[str],
    args: argparse.Namespace,
    comm: Any,
    results: Any,
    is_last: bool,
    out_dir: Path,
    log: Callable[[str], None],
) -> int:
    """Warm-up, then one runner.run per prompt. Returns the number of images."""
    if args.warmup > 0:
        t0 = time.perf_counter()
        failed: list[tuple[int, str]] = []
        for _ in range(args.warmup):
            status = None
            try:
                runner.run(call_args(input_args, prompts[0], args.seed))
                synchronize()
            except Exception as exc:  # noqa: BLE001 - the batch still runs
                traceback.print_exc()
                status = error_line(exc)
                release_cache()
            failed = agree(comm, status)
            if failed:
                break
        if failed:
            results.write({"event": "warmup", "seconds": None, "ok": False,
                           "error": failure_text(failed, comm.world_size)})
        else:
            results.write({"event": "warmup", "seconds": round(time.perf_counter() - t0, 4)})

    ok_count = 0
    for i, prompt in enumerate(prompts):
        name = f"prompt_{i:02d}.png"
        status = None
        image = None
        seconds = None
        engine_seconds = None
        t0 = time.perf_counter()
        try:
            output, timings = runner.run(call_args(input_args, prompt, args.seed + i))
            synchronize()
            seconds = time.perf_counter() - t0
            if timings:
                engine_seconds = float(timings[-1])
            if is_last:
                image = first_image(output)
        except Exception as exc:  # noqa: BLE001 - one prompt's failure never ends the batch
            traceback.print_exc()
            status = error_line(exc)
            release_cache()
        failed = agree(comm, status)  # every rank, every prompt: nobody waits alone
        if failed:
            text = failure_text(failed, comm.world_size)
            results.write({"prompt": i, "image": None, "seconds": None, "ok": False, "error": text})
            if is_last:
                log(f"  Prompt {i + 1}: failed ({text})")
            continue
        if is_last:
            try:
                image.save(str(out_dir / name))
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                results.write({"prompt": i, "image": None, "seconds": None, "ok": False,
                               "error": "saving the image: " + error_line(exc)})
                log(f"  Prompt {i + 1}: failed ({error_line(exc)})")
                continue
            line: dict[str, Any] = {"prompt": i, "image": name, "seconds": round(seconds, 4), "ok": True}
            if engine_seconds is not None:
                line["xdit_seconds"] = round(engine_seconds, 4)
            results.write(line)
            log(f"  Prompt {i + 1}: {seconds:.4f} seconds")
        ok_count += 1
    return ok_count


def write_memory(comm: Any, results: Any) -> None:
    """Per-rank peak allocation (torch.cuda.max_memory_allocated), gathered to the last rank."""
    peaks = comm.all_gather(peak_bytes())
    for rank, peak in enumerate(peaks):
        if peak is not None:
            results.write({"event": "memory", "device": rank, "peak_bytes": int(peak)})


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args, features = parse_compat_args(raw)

    default_single_process_env()
    rank, world_size = env_rank()
    last_by_env = rank == world_size - 1

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
        from xfuser.core.utils.runner_utils import is_last_process  # noqa: PLC0415
        from xfuser.runner import xFuserModelRunner  # noqa: PLC0415

        parser = xdit_parser()
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        traceback.print_exc()
        print(f"error: cannot import xfuser (xDiT {XDIT_VERSION}): {error_line(exc)}", file=sys.stderr)
        return EXIT_FAILED

    try:
        config = parse_xdit_args(args, features, parser)
        check_model(config)
    except UsageError as exc:
        if last_by_env:
            print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE

    is_last = bool(is_last_process())
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: Any = Results(out_dir / "results.jsonl") if is_last else NoResults()
    comm = None
    runner = None
    try:
        if is_last:
            log(f"xDiT batch (targets xDiT {XDIT_VERSION}, commit {XDIT_COMMIT[:7]}), {world_size} rank(s)")
            log(f"  model={args.model} prompts={len(prompts)} steps={args.num_inference_steps} "
                f"size={args.width}x{args.height} cfg_scale={args.cfg_scale} seed={args.seed}")
            log(f"  xDiT flags: {' '.join(features) or '(none)'}")

        config["prompt"] = [prompts[0]]  # the runner validates that a prompt is set
        t0 = time.perf_counter()
        try:
            runner = xFuserModelRunner(config)
            input_args = runner.preprocess_args(config)
            runner.initialize(input_args)
            synchronize()
        except Exception as exc:  # noqa: BLE001 - any load failure is a setup failure
            traceback.print_exc()
            print(f"error: model load failed: {error_line(exc)}", file=sys.stderr, flush=True)
            results.write({"event": "load", "seconds": None, "ok": False, "error": error_line(exc)})
            return EXIT_FAILED
        load_seconds = time.perf_counter() - t0
        comm = TorchComm()
        results.write({"event": "load", "seconds": round(load_seconds, 4)})
        if is_last:
            log(f"Model loaded in {load_seconds:.2f} seconds")

        ok_count = run_batch(runner, input_args, prompts, args, comm, results, is_last, out_dir, log)
        write_memory(comm, results)
        if is_last:
            log(f"Done: {ok_count}/{len(prompts)} prompts produced an image")
        return EXIT_OK if ok_count > 0 else EXIT_FAILED
    finally:
        results.close()
        if comm is not None:
            comm.close()
        if runner is not None and getattr(runner, "is_initialized", False):
            try:
                runner.cleanup()
            except Exception:  # noqa: BLE001
                traceback.print_exc()


if __name__ == "__main__":
    sys.exit(main())
