#!/usr/bin/env python3
"""compat backend: a text-to-image batch on vLLM-Omni (one model load, many prompts).

Targets the offline diffusion API of **vLLM-Omni 0.18** (and the releases after it
that keep the same entry points), as used by vLLM-Omni's own example
``examples/offline_inference/text_to_image/text_to_image.py`` and documented in
its user guide (https://docs.vllm.ai/projects/vllm-omni/en/stable/):

* ``vllm_omni.entrypoints.omni.Omni(model=..., cache_backend=..., cache_config=...,
  parallel_config=...)`` -- the engine, loaded once;
* ``vllm_omni.diffusion.data.DiffusionParallelConfig(ulysses_degree=...,
  ring_degree=..., cfg_parallel_size=..., tensor_parallel_size=...)``;
* ``vllm_omni.inputs.data.OmniDiffusionSamplingParams(height=..., width=...,
  num_inference_steps=..., true_cfg_scale=..., seed=..., generator=...)``;
* ``omni.generate({"prompt": ..., "negative_prompt": ...}, sampling_params)``.

The cache configurations are the ones vLLM-Omni's example passes:
TeaCache ``{"rel_l1_thresh": 0.2}``; Cache-DiT (DBCache) Fn=1, Bn=0, 4 warm-up
steps, residual-diff threshold 0.24, at most 3 continuous cached steps, TaylorSeer
and SCM off.

Protocol (compat DESIGN.md §4): prompt ``i`` (0-based) uses seed ``seed + i`` and
is written to ``prompt_{i:02d}.png``; ``results.jsonl`` gets one line per prompt,
plus ``load``, ``warmup`` and ``memory`` events, flushed as they happen; the log
gets ``  Prompt N: X seconds`` (1-based) per prompt.

Exit codes:
  0  setup succeeded and at least one prompt produced an image
  1  setup failed (prompt file unreadable, vllm_omni/torch missing, model load
     failed) -- or every prompt failed
  2  bad usage (argparse errors, empty prompt file)
A single failing prompt (e.g. CUDA out of memory) is recorded as ``ok: false`` and
the batch goes on, so one bad prompt never hides the timings of the others.

vllm_omni and torch are imported inside functions, so ``--help`` (and the tests,
with a stand-in ``vllm_omni``) work without them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

TARGET_VLLM_OMNI_VERSION = "0.18"

# vLLM-Omni's example values (examples/offline_inference/text_to_image/text_to_image.py).
TEA_CACHE_CONFIG: dict[str, Any] = {
    "rel_l1_thresh": 0.2,
}
CACHE_DIT_CONFIG: dict[str, Any] = {
    "Fn_compute_blocks": 1,
    "Bn_compute_blocks": 0,
    "max_warmup_steps": 4,
    "residual_diff_threshold": 0.24,
    "max_continuous_cached_steps": 3,
    "enable_taylorseer": False,
    "taylorseer_order": 1,
    "scm_steps_mask_policy": None,
    "scm_steps_policy": "dynamic",
}

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


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
            "Generate one image per prompt with vLLM-Omni, loading the model once "
            f"(targets vLLM-Omni {TARGET_VLLM_OMNI_VERSION}). Writes prompt_NN.png and "
            "results.jsonl into --output."
        ),
    )
    p.add_argument("--model", required=True, help="model name or local path, e.g. Qwen/Qwen-Image-2512")
    p.add_argument("--prompt-file", required=True, help="UTF-8 text file, one prompt per line")
    p.add_argument("--output", required=True, help="output directory (created if missing)")
    p.add_argument("--num-inference-steps", type=positive_int, default=50)
    p.add_argument("--height", type=positive_int, default=1024)
    p.add_argument("--width", type=positive_int, default=1024)
    p.add_argument("--cfg-scale", type=float, default=4.0, help="true CFG scale (true_cfg_scale)")
    p.add_argument("--seed", type=int, default=42, help="prompt i uses seed + i")
    p.add_argument("--negative-prompt", default="", help="empty: none")
    p.add_argument("--cfg-parallel-size", type=int, default=1, choices=[1, 2])
    p.add_argument("--cache-backend", choices=["tea_cache", "cache_dit"], default=None)
    p.add_argument("--ulysses-degree", type=positive_int, default=1)
    p.add_argument("--ring-degree", type=positive_int, default=1)
    p.add_argument("--tensor-parallel-size", type=positive_int, default=1)
    p.add_argument(
        "--warmup",
        type=non_negative_int,
        default=1,
        help="untimed generations of the first prompt before the batch (default 1)",
    )
    return p


def read_prompts(path: str) -> list[str]:
    """One prompt per line, UTF-8, passed through untouched.

    Lines are split on "\\n" only (not str.splitlines, which would also split on
    \\x0b, \\x0c, \\x1c-\\x1e, \\x85, U+2028 and U+2029 inside a prompt). A "\\r"
    before the "\\n" (CRLF files) is dropped, and so is the empty piece after a
    final newline; nothing else is stripped or unescaped.
    """
    data = Path(path).read_bytes()
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def cache_config_for(backend: str | None) -> dict[str, Any] | None:
    if backend == "tea_cache":
        return dict(TEA_CACHE_CONFIG)
    if backend == "cache_dit":
        return dict(CACHE_DIT_CONFIG)
    return None


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


def _torch():
    try:
        import torch  # noqa: PLC0415

        return torch
    except ImportError:
        return None


def _device_type(torch: Any) -> str:
    try:
        from vllm_omni.platforms import current_omni_platform  # noqa: PLC0415

        return current_omni_platform.device_type
    except Exception:  # noqa: BLE001 - older releases have no vllm_omni.platforms
        pass
    if torch is not None and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def make_generator(seed: int) -> Any:
    """A torch.Generator seeded with `seed` on the platform's device, as in
    vLLM-Omni's example; None when torch is absent (the stand-in tests)."""
    torch = _torch()
    if torch is None:
        return None
    return torch.Generator(device=_device_type(torch)).manual_seed(seed)


def load_omni(args: argparse.Namespace) -> Any:
    from vllm_omni.diffusion.data import DiffusionParallelConfig  # noqa: PLC0415
    from vllm_omni.entrypoints.omni import Omni  # noqa: PLC0415

    parallel_config = DiffusionParallelConfig(
        ulysses_degree=args.ulysses_degree,
        ring_degree=args.ring_degree,
        cfg_parallel_size=args.cfg_parallel_size,
        tensor_parallel_size=args.tensor_parallel_size,
    )
    return Omni(
        model=args.model,
        cache_backend=args.cache_backend,
        cache_config=cache_config_for(args.cache_backend),
        parallel_config=parallel_config,
    )


def sampling_params(args: argparse.Namespace, seed: int) -> Any:
    from vllm_omni.inputs.data import OmniDiffusionSamplingParams  # noqa: PLC0415

    return OmniDiffusionSamplingParams(
        height=args.height,
        width=args.width,
        num_inference_steps=args.num_inference_steps,
        true_cfg_scale=args.cfg_scale,
        seed=seed,
        generator=make_generator(seed),
        num_outputs_per_prompt=1,
    )


def prompt_input(prompt: str, negative_prompt: str) -> dict[str, Any]:
    request: dict[str, Any] = {"prompt": prompt}
    if negative_prompt:
        request["negative_prompt"] = negative_prompt
    return request


def extract_images(outputs: Any) -> list[Any]:
    """The images of one generate() call, across the output shapes vLLM-Omni
    releases have returned: OmniRequestOutput.images,
    .request_output.images, .request_output[0]["images"], or plain images."""
    if outputs is None:
        return []
    items = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for out in items:
        if hasattr(out, "save"):
            return list(items)
        images = getattr(out, "images", None)
        if images:
            return list(images)
        req = getattr(out, "request_output", None)
        if req is None:
            continue
        images = getattr(req, "images", None)
        if images:
            return list(images)
        if isinstance(req, (list, tuple)) and req:
            first = req[0]
            if isinstance(first, dict) and first.get("images"):
                return list(first["images"])
            images = getattr(first, "images", None)
            if images:
                return list(images)
    return []


def generate_one(omni: Any, args: argparse.Namespace, prompt: str, seed: int) -> Any:
    outputs = omni.generate(prompt_input(prompt, args.negative_prompt), sampling_params(args, seed))
    images = extract_images(outputs)
    if not images:
        raise RuntimeError("generate() returned no image")
    image = images[0]
    if not hasattr(image, "save"):  # a NumPy array from some pipelines
        from diffusers.utils import numpy_to_pil  # noqa: PLC0415

        image = numpy_to_pil(image)[0]
    return image


def _synchronize() -> None:
    torch = _torch()
    if torch is not None and torch.cuda.is_available():
        try:
            torch.cuda.synchronize()
        except Exception:  # noqa: BLE001
            pass


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text[:2000]


def write_memory_events(results: Results) -> None:
    """Peak allocation per visible device, from torch.cuda.max_memory_allocated.

    Only allocations made by this process are counted; vLLM-Omni runs its
    diffusion workers in processes of their own, so these numbers are a lower
    bound, written "where available" as the protocol says."""
    torch = _torch()
    if torch is None:
        return
    try:
        if not torch.cuda.is_available():
            return
        for d in range(torch.cuda.device_count()):
            results.write({"event": "memory", "device": d, "peak_bytes": int(torch.cuda.max_memory_allocated(d))})
    except Exception:  # noqa: BLE001
        pass


def run(args: argparse.Namespace) -> int:
    try:
        prompts = read_prompts(args.prompt_file)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read prompt file {args.prompt_file}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not prompts:
        print(f"error: prompt file {args.prompt_file} has no prompts", file=sys.stderr)
        return EXIT_USAGE

    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = Results(out_dir / "results.jsonl")
    try:
        print(f"vLLM-Omni batch (targets vLLM-Omni {TARGET_VLLM_OMNI_VERSION})", flush=True)
        print(
            f"  model={args.model} prompts={len(prompts)} steps={args.num_inference_steps} "
            f"size={args.width}x{args.height} cfg_scale={args.cfg_scale} seed={args.seed}",
            flush=True,
        )
        print(
            f"  cache_backend={args.cache_backend or 'none'} cfg_parallel_size={args.cfg_parallel_size} "
            f"ulysses_degree={args.ulysses_degree} ring_degree={args.ring_degree} "
            f"tensor_parallel_size={args.tensor_parallel_size}",
            flush=True,
        )

        t0 = time.perf_counter()
        try:
            omni = load_omni(args)
        except Exception as exc:  # noqa: BLE001 - any load failure is a setup failure
            traceback.print_exc()
            print(f"error: model load failed: {_error_text(exc)}", file=sys.stderr, flush=True)
            results.write({"event": "load", "seconds": None, "ok": False, "error": _error_text(exc)})
            return EXIT_FAILED
        results.write({"event": "load", "seconds": round(time.perf_counter() - t0, 4)})
        print(f"Model loaded in {time.perf_counter() - t0:.2f} seconds", flush=True)

        try:
            if args.warmup > 0:
                t0 = time.perf_counter()
                try:
                    for _ in range(args.warmup):
                        generate_one(omni, args, prompts[0], args.seed)
                    _synchronize()
                    results.write({"event": "warmup", "seconds": round(time.perf_counter() - t0, 4)})
                except Exception as exc:  # noqa: BLE001 - the batch still runs
                    traceback.print_exc()
                    results.write(
                        {"event": "warmup", "seconds": None, "ok": False, "error": _error_text(exc)}
                    )

            ok_count = 0
            for i, prompt in enumerate(prompts):
                name = f"prompt_{i:02d}.png"
                t0 = time.perf_counter()
                try:
                    image = generate_one(omni, args, prompt, args.seed + i)
                    _synchronize()
                    seconds = time.perf_counter() - t0
                    image.save(str(out_dir / name))
                except Exception as exc:  # noqa: BLE001 - one prompt's failure never ends the batch
                    traceback.print_exc()
                    results.write(
                        {"prompt": i, "image": None, "seconds": None, "ok": False, "error": _error_text(exc)}
                    )
                    print(f"  Prompt {i + 1}: failed ({_error_text(exc)})", flush=True)
                    continue
                ok_count += 1
                results.write({"prompt": i, "image": name, "seconds": round(seconds, 4), "ok": True})
                print(f"  Prompt {i + 1}: {seconds:.4f} seconds", flush=True)

            write_memory_events(results)
        finally:
            close = getattr(omni, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001
                    traceback.print_exc()

        print(f"Done: {ok_count}/{len(prompts)} prompts produced an image", flush=True)
        return EXIT_OK if ok_count > 0 else EXIT_FAILED
    finally:
        results.close()


# Options whose value is free text: compat passes them as two argv entries, and a
# value starting with "-" (a negative prompt such as "-blurry" or "-- --seed 9")
# would otherwise be taken by argparse for an option.
TEXT_OPTIONS = ("--negative-prompt", "--model", "--prompt-file", "--output")


def join_text_values(argv: list[str]) -> list[str]:
    """Turn `--negative-prompt VALUE` into `--negative-prompt=VALUE` (same for
    the other free-text options) so the value is never parsed as an option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in TEXT_OPTIONS and i + 1 < len(argv):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(join_text_values(raw))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
