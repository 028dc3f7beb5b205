"""vllm_omni/outputs.py at 7bd8f25f: `OmniRequestOutput` (:29-131), the
fields a diffusion result fills, and the PIL-like images it carries."""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vllm_omni import _sim


class StubImage:
    """What the script does with an image: `img.save(path)` (B:419). Used
    where Pillow is not installed; where it is, the images are PIL's own."""

    def __init__(self, width, height, rgb):
        self.width, self.height, self.mode, self._rgb = width, height, "RGB", rgb

    @property
    def size(self):
        return self.width, self.height

    def save(self, fp, format=None, **params):
        if params:
            raise TypeError(f"StubImage.save: unsupported parameters {sorted(params)}")
        path = Path(fp)
        kind = (format or path.suffix.lstrip(".")).upper()
        if kind != "PNG":
            raise ValueError(f"unknown file extension: {path.suffix}" if not format else f"unsupported format {format}")
        _sim.write_png(path, self._rgb, self.width, self.height)


def new_image(width, height, rgb):
    try:
        from PIL import Image
    except ImportError:
        return StubImage(width, height, rgb)
    return Image.new("RGB", (width, height), rgb)


@dataclass
class OmniRequestOutput:
    request_id: str = ""
    finished: bool = True
    stage_id: int | None = None
    final_output_type: str = "text"
    request_output: Any = None
    images: list = field(default_factory=list)
    prompt: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_diffusion(cls, request_id, images, prompt=None, metrics=None, final_output_type="image"):
        """outputs.py:90-131: a diffusion stage's result."""
        return cls(
            request_id=request_id,
            final_output_type=final_output_type,
            images=images,
            prompt=prompt,
            metrics=metrics or {},
            finished=True,
        )
