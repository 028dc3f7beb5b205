"""LPIPS (Zhang et al. 2018) as a compat metric plugin: kind "pair", lower is
better, 0 for identical images. The ``lpips`` package (0.1.4) with its own
linear-layer weights (shipped inside the package) over AlexNet or VGG16 from
torchvision, whose ImageNet weights are read from torch's hub cache
(``$TORCH_HOME/hub/checkpoints``; ``--download`` fetches them).

    python3 metrics/lpips_metric.py --items ITEMS --values VALUES [--net alex|vgg]

``--random-backbone`` (lpips' ``pnet_rand=True``) uses a randomly initialised
backbone: no download, numbers without perceptual meaning; for tests only.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plugin  # noqa: E402

# torchvision's ImageNet weights the lpips backbones load (torchvision's
# AlexNet_Weights / VGG16_Weights.IMAGENET1K_V1).
BACKBONES = {"alex": "AlexNet_Weights", "vgg": "VGG16_Weights"}


def backbone_file(torch, tv_models, net: str) -> str:
    url = getattr(tv_models, BACKBONES[net]).IMAGENET1K_V1.url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def main() -> None:
    p = plugin.arguments("LPIPS between each config image and the baseline's")
    p.add_argument("--net", choices=sorted(BACKBONES), default="alex")
    p.add_argument("--random-backbone", action="store_true", help="pnet_rand=True: tests only")
    args = p.parse_args()
    plugin.offline(args.download)
    torch = plugin.require("torch", "torch")
    tv_models = plugin.require("torchvision.models", "torchvision")
    lpips = plugin.require("lpips", "lpips==0.1.4")

    weights = backbone_file(torch, tv_models, args.net)
    if not args.random_backbone and not os.path.isfile(weights) and not args.download:
        plugin.fail(
            f"LPIPS {args.net} backbone weights not found at {weights} (torch hub cache; "
            "set TORCH_HOME to where they are, copy the file there, or pass --download on a machine with network)"
        )
    dev = plugin.device(torch, args.device)
    if args.random_backbone:
        torch.manual_seed(0)  # the same random backbone every run
    try:
        model = lpips.LPIPS(net=args.net, pnet_rand=args.random_backbone, verbose=False).to(dev).eval()
    except Exception as e:  # a download that failed, a corrupt file
        plugin.fail(f"cannot load LPIPS ({args.net}, backbone weights {weights}): {type(e).__name__}: {e}")

    import numpy as np

    def tensor(path: str):
        a = np.asarray(plugin.load_rgb(path), dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).to(dev)

    items = plugin.read_items(args.items)
    with plugin.Values(args.values) as out, torch.no_grad():
        out.settings(plugin="lpips", net=args.net, lpips=lpips_version(), random_backbone=args.random_backbone, device=str(dev))
        for item in items:
            try:
                a, b = tensor(item["image"]), tensor(item["reference"])
                if a.shape != b.shape:
                    out.error(item["index"], f"image sizes differ: {tuple(a.shape[2:])} vs {tuple(b.shape[2:])}")
                    continue
                out.value(item["index"], model(a, b).item())
            except (OSError, ValueError, KeyError) as e:
                out.error(item["index"], f"{type(e).__name__}: {e}")


def lpips_version() -> str:
    from importlib.metadata import version

    return version("lpips")


if __name__ == "__main__":
    main()
