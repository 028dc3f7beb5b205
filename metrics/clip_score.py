"""CLIP score as a compat metric plugin: kind "prompt", higher is better.
Each image against its own prompt: 100 × max(cos(image, text), 0), as
torchmetrics' CLIPScore defines it, with transformers' CLIP (the
``openai/clip-vit-large-patch14`` checkpoint by default, torchmetrics' too).

Why transformers' CLIP and not open_clip_torch: transformers is already pinned
for the diffusers backend (one torch stack, one Hugging Face cache to manage),
its checkpoints resolve through ``HF_HOME`` like the pipelines' own, and a tiny
random CLIP can be built offline from a config for the tests
(metrics/make_tiny_clip.py), which open_clip's named architectures do not allow.

    python3 metrics/clip_score.py --items ITEMS --values VALUES [--model ID_OR_DIR]

Weights are read from the Hugging Face cache only (``$HF_HOME``, default
``~/.cache/huggingface``); ``--download`` allows fetching them.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plugin  # noqa: E402

DEFAULT_MODEL = "openai/clip-vit-large-patch14"


def hf_cache() -> str:
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return os.environ.get("HF_HUB_CACHE") or os.path.join(home, "hub")


def main() -> None:
    p = plugin.arguments("CLIP score of each image against its prompt")
    p.add_argument("--model", default=DEFAULT_MODEL, help="a Hugging Face id or a local folder")
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()
    plugin.offline(args.download)
    torch = plugin.require("torch", "torch")
    transformers = plugin.require("transformers", "transformers")
    dev = plugin.device(torch, args.device)
    try:
        model = transformers.CLIPModel.from_pretrained(args.model).to(dev).eval()
        processor = transformers.CLIPProcessor.from_pretrained(args.model)
    except (OSError, ValueError) as e:
        where = args.model if os.path.isdir(args.model) else f"the Hugging Face cache {hf_cache()}"
        plugin.fail(
            f"CLIP model {args.model} not found in {where} ({type(e).__name__}: {str(e).splitlines()[0]}); "
            "set HF_HOME to where it is cached, or pass --download on a machine with network"
        )
    max_len = getattr(model.config.text_config, "max_position_embeddings", 77)

    items = plugin.read_items(args.items)
    with plugin.Values(args.values) as out, torch.no_grad():
        out.settings(plugin="clip_score", model=args.model, transformers=transformers.__version__, device=str(dev))
        for start in range(0, len(items), max(1, args.batch)):
            batch = items[start : start + max(1, args.batch)]
            images, good = [], []
            for item in batch:
                try:
                    images.append(plugin.load_rgb(item["image"]))
                    good.append(item)
                except (OSError, ValueError) as e:
                    out.error(item["index"], f"{type(e).__name__}: {e}")
            if not good:
                continue
            inputs = processor(
                text=[it["prompt"] for it in good],
                images=images,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=max_len,
            ).to(dev)
            img = model.get_image_features(pixel_values=inputs["pixel_values"])
            txt = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
            img = features(img)
            txt = features(txt)
            cos = torch.nn.functional.cosine_similarity(img, txt, dim=-1)
            for item, c in zip(good, cos.tolist()):
                out.value(item["index"], 100.0 * max(c, 0.0))


def features(x):
    """transformers 5 may return a model output where 4.x returned the tensor."""
    if hasattr(x, "pooler_output") and not hasattr(x, "shape"):
        return x.pooler_output
    return x


if __name__ == "__main__":
    main()
