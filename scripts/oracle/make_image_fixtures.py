"""Makes Fixtures/images/: a few small seeded images and what transformers' Qwen3-VL image processor makes of them.

Run with the interop venv from the repository root:  .venv/bin/python scripts/oracle/make_image_fixtures.py

For each image, reference.safetensors holds
  <name>.rgb            uint8 [H, W, 3]: the file as the processor sees it: `load_image` (EXIF orientation undone,
                        convert("RGB"): palette expanded, alpha dropped, a tRNS colour key kept) then the
                        processor's `convert_to_rgb` (keyed pixels composited onto white)
  <name>.pixel_values   float32 [P, 1536] and <name>.image_grid_thw int64 [1, 3]: AutoImageProcessor (the PIL
                        backend, Qwen2VLImageProcessorPil) given the file's path, with the tiny dense fixture's
                        preprocessor_config.json
  <name>.small.*        the same with size {shortest_edge: 4096, longest_edge: 20000} (the max-pixels path)
README.json records the versions.
"""
import json
import os

import numpy as np
import PIL
import transformers
from PIL import Image
from safetensors.numpy import save_file
from transformers import AutoImageProcessor
from transformers.image_transforms import convert_to_rgb
from transformers.image_utils import load_image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Fixtures", "images")
HF = os.path.join(ROOT, "Fixtures", "qwen3_vl_dense_tiny", "hf")


def content(rng, h, w):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = [127.5 + 100 * np.sin(x / rng.uniform(3, 30) + y / rng.uniform(3, 30) + p) for p in rng.uniform(0, 6.28, 3)]
    return np.clip(np.stack(chans, -1) + rng.normal(0, 15, (h, w, 3)), 0, 255).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(11)
    files = {}
    files["photo.jpg"] = lambda p: Image.fromarray(content(rng, 75, 130)).save(p, quality=90)
    rgba = np.concatenate([content(rng, 97, 61), rng.integers(0, 256, (97, 61, 1), dtype=np.uint8)], -1)
    files["alpha.png"] = lambda p: Image.fromarray(rgba, "RGBA").save(p)
    pal = Image.fromarray(content(rng, 40, 170)).quantize(colors=29)
    files["palette.png"] = lambda p: pal.save(p, transparency=3)
    files["gray.jpg"] = lambda p: Image.fromarray(content(rng, 150, 44)[..., 2], "L").save(p, quality=80, progressive=True)
    exif = Image.Exif()
    exif[0x0112] = 6   # stored sideways: rotate 90° clockwise to view
    files["rotated.jpg"] = lambda p: Image.fromarray(content(rng, 50, 90)).save(p, quality=90, exif=exif.tobytes())

    base = AutoImageProcessor.from_pretrained(HF)
    small = AutoImageProcessor.from_pretrained(HF, size={"shortest_edge": 4096, "longest_edge": 20000})
    assert type(base).__name__ == "Qwen2VLImageProcessorPil"
    tensors = {}
    for name, write in files.items():
        path = os.path.join(OUT, name)
        write(path)
        key = name.split(".")[0]
        tensors[f"{key}.rgb"] = convert_to_rgb(load_image(path), return_numpy=True).astype(np.uint8)
        for prefix, proc in [(key, base), (key + ".small", small)]:
            r = proc(images=[path], return_tensors="np")
            tensors[f"{prefix}.pixel_values"] = r["pixel_values"].astype(np.float32)
            tensors[f"{prefix}.image_grid_thw"] = r["image_grid_thw"].astype(np.int64)
    save_file(tensors, os.path.join(OUT, "reference.safetensors"))
    with open(os.path.join(OUT, "README.json"), "w") as f:
        json.dump({"made_by": "scripts/oracle/make_image_fixtures.py", "transformers": transformers.__version__,
                   "pillow": PIL.__version__, "processor": type(base).__name__,
                   "small_size": {"shortest_edge": 4096, "longest_edge": 20000},
                   "tensors": {k: list(v.shape) for k, v in sorted(tensors.items())}}, f, indent=1)


if __name__ == "__main__":
    main()
