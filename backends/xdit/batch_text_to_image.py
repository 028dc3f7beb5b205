#!/usr/bin/env python3
"""compat backend: a text-to-image batch on xDiT's unified runner (one model load, many prompts).

Launched once per configuration, one process per GPU:

    torchrun --standalone --nproc_per_node {gpus} backends/xdit/batch_text_to_image.py \
        --model Qwen/Qwen-Image --prompt-file P --output DIR --num-inference-steps 30 \
        --height 1024 --width 1024 --cfg-scale 4.0 --seed 42 --negative-prompt "" --warmup 1 \
        [xDiT runner flags, e.g. --ulysses_degree 2 --cache_method dbcache]

or, to ask the installed xDiT what it can do (no weights, no GPU, seconds):

    python3 backends/xdit/batch_text_to_image.py --probe REQUEST.json --output ANSWER.json

Supported: **xfuser 0.6.0 and later** (``--cache_method`` and
``ModelCapabilities.supports_step_caching`` arrived in 0.6.0); checked against
the released wheel xfuser-0.7.0-py3-none-any.whl (PyPI), whose file:line are
cited below. An older xfuser is refused before anything loads. The code its own
``xdit`` console script runs (xfuser/cli.py -> xfuser/runner.py):

* flags: xDiT's own parser, built as xfuser/runner.py:116-117 builds it --
  ``xFuserArgs.add_runner_args(FlexibleArgumentParser(...))``
  (xfuser/config/args.py:803-1354) -- so feature flags keep xDiT's spelling and
  a flag that parser does not know is rejected (exit 2). Step caches are
  ``--cache_method {teacache,fbcache,dbcache}`` (args.py:1337-1343; the old
  ``--use_teacache`` / ``--use_fbcache`` are deprecated aliases, args.py:324-338);
* ``xFuserModelRunner(config: dict)`` (runner.py:33-44): validates the config
  and picks the model class from ``MODEL_REGISTRY`` (base_model.py:71-83);
  ``runner.preprocess_args(dict)`` (runner.py:75-77, base_model.py:919-940)
  applies the model's defaults; ``runner.initialize(dict)`` (runner.py:54-64,
  base_model.py:348-391) loads the pipeline -- the one timed load -- and
  applies the step cache last;
* ``runner.run(dict) -> (DiffusionOutput, timings)`` (runner.py:66-73,
  base_model.py:787-849): one call per prompt with ``prompt=[p_i]`` and
  ``seed=seed+i``; the models build their generator from ``input_args["seed"]``
  per call (``_make_generator``, base_model.py:1142-1148), so prompt i's image
  never depends on batch order. ``DiffusionOutput.images`` holds PIL images;
* the last rank saves (``is_last_process()``, core/utils/runner_utils.py:37-45:
  "legacy xDiT models only produce the output on the last GPU").

What the runner itself does differently, and why this adapter exists:
``--dataset_path`` is a CSV with a ``prompt`` column; every prompt shares one
``--seed``; ``timings.json`` drops its first entry (base_model.py:844-845); any
exception ends the run.

Before loading, the adapter asks the model's own validation
(``xFuserModel._validate_config``, base_model.py:509-535, on the model's
settings, without loading anything) whether it can do what the flags ask:
``ModelCapabilities`` (base_model.py:127-158), and for ``--cache_method`` the
model's ``supports_step_caching`` and its ``step_cache_config``
(base_model.py:192, 521-531). What xDiT would refuse at load (exit 1, "model
load failed") is refused here as a usage error (exit 2) with xDiT's reason and
where the model is declared. (xfuser 0.5.0, and xDiT's repository up to commit
175e0bf, read a boolean option as the int 1 in that check, so an unsupported
``--use_cfg_parallel`` passed silently; 0.6.0 fixed it, base_model.py:514-519
in 0.7.0.)

Protocol (compat DESIGN.md §4): ``prompt_{i:02d}.png`` and ``results.jsonl``
(one line per prompt; ``load``, ``warmup`` and ``memory`` events), written by
the last rank only and flushed line by line; the log gets
``  Prompt N: X seconds`` (1-based). The probe follows backends/protocol.py.

Ranks never disagree about what comes next: after every runner.run (warm-up or
prompt) all ranks exchange their outcome (one ``all_gather_object`` on a gloo
group of their own), so a prompt that fails on any rank is recorded as
``ok: false`` on the last rank and every rank goes on to the next prompt
together. No rank skips that exchange.

Exit codes (every rank):
  0  setup succeeded and at least one prompt produced an image
  1  setup failed (prompt file unreadable, xfuser/torch missing or older than
     0.6.0, model load failed) -- or every prompt failed
  2  bad usage: a flag xDiT's parser does not accept, a flag this adapter sets
     itself, a model outside xDiT's registry or not a text-to-image model, an
     option the model's validation refuses, an empty prompt file
Probe: 0 answered, 2 bad request, 3 xfuser not importable.

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

# The release this adapter is checked against (backends/engine-wheels.txt) and
# the oldest it runs: --cache_method and ModelCapabilities.supports_step_caching
# are 0.6.0's (0.5.0 had --use_fbcache and read booleans as ints).
XDIT_VERSION = "0.7.0"
XDIT_WHEEL = "xfuser-0.7.0-py3-none-any.whl"
MIN_VERSION = (0, 6)
SUPPORTED_TEXT = "xfuser >= 0.6.0 (checked against 0.7.0)"

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
# The shared plumbing (backends/protocol.py).
positive_int = PROTOCOL.positive_int
non_negative_int = PROTOCOL.non_negative_int
read_prompts = PROTOCOL.read_prompts
Results = PROTOCOL.Results
save_image = PROTOCOL.save_image


# ------------------------------------------------------------------ arguments


_Once = PROTOCOL.Once


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(
            "Generate one image per prompt with xDiT's unified runner, loading the model once "
            f"({SUPPORTED_TEXT}). Run under torchrun, one "
            "process per GPU. Writes prompt_NN.png and results.jsonl into --output (last rank). "
            "Every other flag goes to xDiT's own runner parser (xFuserArgs.add_runner_args), "
            "e.g. --ulysses_degree 2 --ring_degree 2 --use_torch_compile --cache_method dbcache. "
            "--probe REQUEST --output ANSWER asks the installed xfuser what it supports."
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
    return PROTOCOL.split_argv(argv, COMPAT_FLAGS)


def parse_compat_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """compat's flags, and everything else (the feature flags for xDiT), in order."""
    ours, rest = split_argv(argv)
    return build_parser().parse_args(ours), rest


def core_xdit_argv(args: argparse.Namespace) -> list[str]:
    """compat's settings in xDiT's spelling (xfuser/config/args.py:803-1354)."""
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


def _hint(message: str, parser: Any) -> str:
    known = [s for s in getattr(parser, "_option_string_actions", {}) if s.startswith("--")]
    hints = []
    if "unrecognized arguments:" in message:
        for token in message.split("unrecognized arguments:", 1)[1].split():
            if token.startswith("-"):
                name = "--" + token.split("=", 1)[0].lstrip("-").replace("-", "_")
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
            "(_split_prompts_for_dp, base_model.py:1160-1189); this adapter runs one prompt per call"
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


def model_source(cls: Any) -> str:
    """Where xDiT declares a model class: "qwen.py:136", for reasons that say
    which code they come from."""
    import inspect  # noqa: PLC0415

    try:
        path = inspect.getsourcefile(cls)
        line = inspect.getsourcelines(cls)[1]
        if path:
            return f"{Path(path).name}:{line}"
    except (TypeError, OSError):
        pass
    return str(getattr(cls, "__module__", "?")).rsplit(".", 1)[-1] + ".py"


def parse_version(text: str | None) -> tuple[int, int] | None:
    import re  # noqa: PLC0415

    m = re.match(r"^v?(\d+)\.(\d+)", (text or "").strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def installed_version() -> str | None:
    """The installed xfuser's version: its distribution metadata, else
    xfuser/__version__.py (the package itself does not export __version__)."""
    try:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            return version("xfuser")
        except PackageNotFoundError:
            pass
        from xfuser.__version__ import __version__  # noqa: PLC0415

        return str(__version__)
    except Exception:  # noqa: BLE001
        return None


def version_refusal(text: str | None, parser: Any) -> str | None:
    """Why this xfuser cannot run under the adapter, or None. A version that
    says nothing (a source checkout) is judged by its parser: --cache_method
    is what 0.6.0 brought."""
    parsed = parse_version(text)
    if parsed is None:
        if "--cache_method" in getattr(parser, "_option_string_actions", {}):
            return None
        return f"xfuser {text or '(unknown version)'} has no --cache_method; supported: {SUPPORTED_TEXT}"
    if parsed < MIN_VERSION:
        return (f"xfuser {text} is not supported: before 0.6.0 the runner has no --cache_method and "
                f"reads boolean options as ints; supported: {SUPPORTED_TEXT}")
    return None


def model_class(config: dict[str, Any]) -> Any:
    """The registry's class for the config's model; UsageError for a key outside
    the registry or a model that does not make images."""
    from xfuser.model_executor.models.runner_models.base_model import MODEL_REGISTRY  # noqa: PLC0415

    model = config.get("model")
    cls = MODEL_REGISTRY.get(model)
    if cls is None:
        raise UsageError(
            f"model {model!r} is not in xDiT's model registry; text-to-image keys: "
            + ", ".join(image_model_keys(MODEL_REGISTRY))
        )
    if _output_type(cls) != "image":
        raise UsageError(f"xDiT's {model!r} makes {_output_type(cls)!r} output; compat compares images")
    return cls


def engine_refusal(cls: Any, config: dict[str, Any]) -> str | None:
    """What xDiT's own validation says about this config for this model, or None.

    The model's ``__init__`` (base_model.py:286-291) copies its settings, lets
    the model customise them, fills the default attention backend and runs
    ``_validate_config`` (base_model.py:509-535) -- capabilities, step cache
    method, tasks -- before anything loads. The same steps here, on an object
    that is not initialised further, so no weights or devices are touched."""
    import copy  # noqa: PLC0415

    from xfuser import xFuserArgs  # noqa: PLC0415

    try:
        xargs = xFuserArgs.from_runner_args(dict(config))  # resolves the deprecated aliases
        model = cls.__new__(cls)
        model.settings = copy.deepcopy(cls.settings)
        model._customize_settings(xargs)
        if callable(getattr(model, "_apply_default_attention_backend", None)):
            model._apply_default_attention_backend(xargs)
        model._validate_config(xargs)
    except (ValueError, AssertionError, TypeError) as exc:
        return f"{exc} ({cls.__name__}, {model_source(cls)})"
    return None


def check_model(config: dict[str, Any]) -> None:
    """Registry key, text-to-image, and the model's own validation; UsageError
    with xDiT's reason when it would refuse the config at load."""
    cls = model_class(config)
    reason = engine_refusal(cls, config)
    if reason:
        raise UsageError(f"xDiT refuses this configuration for {config.get('model')!r}: {reason}")


# -------------------------------------------------------------------- prompts


# -------------------------------------------------------------------- output


error_line = PROTOCOL.error_text


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
                save_image(image, out_dir / name)  # whole, on disk, before its ok line
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


# ---------------------------------------------------------------------- probe




def probe_settings(settings: dict[str, Any]) -> argparse.Namespace:
    """compat's settings of the request as this script's own arguments."""
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


def probe_feature(args: argparse.Namespace, fragment: list[str], parser: Any, version: str) -> dict[str, Any]:
    """One feature of the request: the adapter's own checks, xDiT's parser, then
    the model's own validation -- what a run of this feature would meet before
    the load."""
    try:
        config = parse_xdit_args(args, list(fragment), parser)
        cls = model_class(config)
        reason = engine_refusal(cls, config)
    except UsageError as exc:
        return {"supported": False, "reason": f"xfuser {version}: {exc}"}
    if reason:
        return {"supported": False, "reason": f"xfuser {version}: {reason}"}
    return {"supported": True}


def probe_main(request_path: str, output_path: str) -> int:
    """Answer a probe request (backends/protocol.py): which features of the
    request the installed xfuser can run on the request's model."""
    try:
        request = PROTOCOL.read_probe_request(request_path)
        args = probe_settings(request["settings"])
    except PROTOCOL.BadProbeRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return PROTOCOL.PROBE_BAD_REQUEST
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("LOCAL_RANK", "0")
    try:
        import xfuser  # noqa: PLC0415

        parser = xdit_parser()
        from xfuser.model_executor.models.runner_models.base_model import MODEL_REGISTRY  # noqa: PLC0415, F401
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        return PROTOCOL.not_importable("xfuser", exc)
    identity = PROTOCOL.engine_identity("xfuser", xfuser)
    version = identity.get("version") or installed_version() or "unknown"
    identity["version"] = version
    args.model = request["model"]
    notes: list[str] = [f"adapter supports {SUPPORTED_TEXT}"]
    refusal = version_refusal(version, parser)
    features: dict[str, dict[str, Any]] = {}
    if refusal:
        notes.append(refusal)
        features = {name: {"supported": False, "reason": refusal} for name in request["features"]}
    else:
        try:
            model_class(parse_xdit_args(args, [], parser))
        except UsageError as exc:
            notes.append(f"xfuser {version}: {exc}")
        for name, fragment in request["features"].items():
            features[name] = probe_feature(args, fragment, parser, version)
    answer = PROTOCOL.probe_answer("xfuser", identity, request["model"], features, notes)
    return PROTOCOL.write_probe_answer(output_path, answer)


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    probed = PROTOCOL.probe_if_asked(raw, probe_main)
    if probed is not None:
        return probed
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
        print(f"error: cannot import xfuser ({SUPPORTED_TEXT}): {error_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    version = installed_version()
    refusal = version_refusal(version, parser)
    if refusal:
        if last_by_env:
            print(f"error: {refusal}", file=sys.stderr, flush=True)
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
    results: Any = Results(out_dir / "results.jsonl" if is_last else None)
    comm = None
    runner = None
    try:
        if is_last:
            log(f"xDiT batch (xfuser {version or 'unknown'}; {SUPPORTED_TEXT}), {world_size} rank(s)")
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
        import xfuser  # noqa: PLC0415 - already imported by the runner above

        results.write({"event": "settings", "backend": "xdit",
                       "engine": PROTOCOL.engine_record("xfuser", xfuser)})
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
