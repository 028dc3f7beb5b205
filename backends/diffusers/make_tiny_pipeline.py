#!/usr/bin/env python3
"""Build a tiny, random-weight Qwen-Image pipeline for diffusers, offline.

    python3 backends/diffusers/make_tiny_pipeline.py OUTDIR [--heads 4] [--layers 4] [--seed 0]

Writes a ``QwenImagePipeline`` with ``save_pretrained`` into OUTDIR (about 20 MB),
loadable with ``DiffusionPipeline.from_pretrained(OUTDIR)`` under
``HF_HUB_OFFLINE=1``. Nothing is downloaded: the tokenizer is a byte-level BPE
trained here with the ``tokenizers`` library on a small built-in corpus, the
weights are random (``torch.manual_seed``), so the same arguments give the same
files byte for byte.

It exists so compat's tests can drive a *real* diffusers pipeline (real
scheduler, real hooks for caches, compile, offload, context / tensor
parallelism) on a CPU in well under a second per image. The images are noise
patterns, not pictures; what matters is that every feature runs the same code
as it would on the real model.

Sizes follow diffusers' own fast tests (tests/pipelines/qwenimage/
test_qwenimage.py), with 4 transformer blocks (so first-block caches have a head,
a middle and a tail) and 4 attention heads by default (so Ulysses-2 and tensor
parallel 2 divide the heads; diffusers' tests use 3).

The one non-obvious constraint: QwenImagePipeline wraps every prompt in a
system-prompt template and drops its first 34 tokens
(``prompt_template_encode_start_idx = 34``). The template's prefix must
therefore tokenize to exactly 34 tokens, as it does with the real Qwen
tokenizer: one token per word, punctuation mark, newline and special token. The
corpus repeats the template so that BPE learns each of its words as one token,
and the script checks the count before saving.

Exit codes: 0 written and reloaded; 1 failure (message on stderr); 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# The Qwen-Image prompt template (diffusers pipeline_qwenimage.py,
# prompt_template_encode) and the index of the first prompt token.
TEMPLATE = (
    "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, "
    "text, spatial relationships of the objects and background:<|im_end|>\n<|im_start|>user\n{}"
    "<|im_end|>\n<|im_start|>assistant\n"
)
DROP_IDX = 34

# Words for prompts, so that ordinary prompts tokenize to a handful of tokens
# rather than to bytes (either works; fewer tokens is faster).
EXTRA_WORDS = (
    "a an the of in on at with and or to from by for is are red green blue yellow white black "
    "orange purple pink brown gray cat dog bird fish horse cow tree flower forest mountain river "
    "lake sea ocean sky cloud sun moon star city street house car boat train bridge castle tower "
    "garden field beach desert snow rain night day morning evening portrait photo painting drawing "
    "sketch watercolor oil style light dark bright small big large tiny old young man woman child "
    "robot dragon astronaut cyberpunk fantasy realistic detailed high quality blurry low bad ugly "
    "cinematic lighting sunset sunrise over under near far wooden stone glass metal golden silver "
    "prompt image picture scene view close up landscape abstract colorful minimal 0 1 2 3 4 5 6 7 8 9"
)

VOCAB_SIZE = 1024  # BPE vocabulary incl. 256 byte tokens and the special tokens


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Build a tiny random-weight QwenImagePipeline (offline) and save_pretrained it into OUTDIR."
    )
    p.add_argument("outdir", help="directory to write (created; existing files are overwritten)")
    p.add_argument("--heads", type=int, default=4, help="transformer attention heads (default 4; head dim is 16)")
    p.add_argument("--layers", type=int, default=4, help="transformer blocks (default 4)")
    p.add_argument("--seed", type=int, default=0, help="torch seed for the random weights (default 0)")
    return p


def corpus() -> list[str]:
    template_text = TEMPLATE.format("")
    lines = [template_text] * 200
    lines += [TEMPLATE.format(w) for w in EXTRA_WORDS.split()] * 5
    lines += [EXTRA_WORDS] * 20
    return lines


def build_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    raw = Tokenizer(models.BPE())
    raw.normalizer = normalizers.NFC()
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(corpus(), trainer=trainer)

    import json

    model = json.loads(raw.to_str())["model"]
    vocab: dict[str, int] = model["vocab"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges)
    from tokenizers import AddedToken

    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS], special_tokens=True)
    tok.model_max_length = 32768
    return tok


def check_tokenizer(tok) -> None:
    prefix = TEMPLATE.split("{}")[0]
    ids = tok(prefix)["input_ids"]
    if len(ids) != DROP_IDX:
        raise RuntimeError(
            f"the prompt template's prefix tokenizes to {len(ids)} tokens, QwenImagePipeline drops {DROP_IDX}"
        )
    full = tok(TEMPLATE.format("a red cat"))["input_ids"]
    if full[:DROP_IDX] != ids:
        raise RuntimeError("the template prefix tokenizes differently once a prompt follows it")
    for t in SPECIAL_TOKENS:
        if len(tok(t)["input_ids"]) != 1:
            raise RuntimeError(f"special token {t} is not one token")


def build(outdir: Path, heads: int, layers: int, seed: int) -> None:
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tok = build_tokenizer()
    check_tokenizer(tok)
    ids = tok.convert_tokens_to_ids
    vocab_size = len(tok)

    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=layers,
        attention_head_dim=16,
        num_attention_heads=heads,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    torch.manual_seed(seed)
    z_dim = 4
    vae = AutoencoderKLQwenImage(
        base_dim=z_dim * 6,
        z_dim=z_dim,
        dim_mult=[1, 2, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True],
        latents_mean=[0.0] * z_dim,
        latents_std=[1.0] * z_dim,
    )
    scheduler = FlowMatchEulerDiscreteScheduler()
    torch.manual_seed(seed)
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "vocab_size": vocab_size,
            "bos_token_id": ids("<|endoftext|>"),
            "eos_token_id": ids("<|im_end|>"),
            "pad_token_id": ids("<|endoftext|>"),
        },
        vision_config={
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": 16,
        },
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
    )
    text_encoder = Qwen2_5_VLForConditionalGeneration(config)
    text_encoder.eval()

    pipe = QwenImagePipeline(
        transformer=transformer,
        vae=vae,
        scheduler=scheduler,
        text_encoder=text_encoder,
        tokenizer=tok,
    )
    outdir.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(outdir))


def verify(outdir: Path) -> None:
    """Reload with the hub offline and run one 2-step 32x32 generation."""
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(outdir))
    pipe.set_progress_bar_config(disable=True)
    image = pipe(
        prompt="a red cat",
        negative_prompt=" ",
        true_cfg_scale=4.0,
        num_inference_steps=2,
        height=32,
        width=32,
        generator=torch.Generator("cpu").manual_seed(0),
    ).images[0]
    if image.size != (32, 32):
        raise RuntimeError(f"reloaded pipeline produced a {image.size} image, expected (32, 32)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.heads < 1 or args.layers < 1:
        print("error: --heads and --layers must be at least 1", file=sys.stderr)
        return 2
    outdir = Path(args.outdir)
    try:
        build(outdir, args.heads, args.layers, args.seed)
        verify(outdir)
    except Exception as exc:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    total = sum(f.stat().st_size for f in outdir.rglob("*") if f.is_file())
    print(f"wrote {outdir} ({total / 1e6:.1f} MB): QwenImagePipeline, {args.layers} blocks, {args.heads} heads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
