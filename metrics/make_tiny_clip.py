"""A tiny, randomly initialised CLIP saved to a folder, built offline (no
download): a byte-level CLIP tokenizer with no merges (every character a
token), a 32-pixel vision tower, a 2-layer text tower. Its scores mean nothing;
it lets tests run metrics/clip_score.py end to end without weights.
Its cosines are made positive (see below) so the scores vary.

    python3 metrics/make_tiny_clip.py OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys


def bytes_to_unicode() -> dict[int, str]:
    # CLIP's (and GPT-2's) byte → printable character table.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def main(out: str) -> None:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    os.makedirs(out, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(vocab_list)}
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
    tokenizer = CLIPTokenizer(os.path.join(out, "vocab.json"), os.path.join(out, "merges.txt"))
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(out)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=77,
            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"],
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=32, patch_size=8,
        ),
        projection_dim=16,
    )
    torch.manual_seed(0)
    model = CLIPModel(config)
    # Random towers give cosines scattered around 0, which CLIP score clips
    # to 0: every score would be 0 and say nothing of the plumbing. A shared
    # offset in both towers' last norm and one projection for both make the
    # cosines positive, still depending on the image and the prompt.
    with torch.no_grad():
        for norm in (model.text_model.final_layer_norm, model.vision_model.post_layernorm):
            norm.weight.mul_(0.5)
            norm.bias.fill_(1.0)
        model.visual_projection.weight.copy_(model.text_projection.weight)
    model.save_pretrained(out)


if __name__ == "__main__":
    main(sys.argv[1])
