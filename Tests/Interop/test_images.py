"""Images through ckpt-bridge (`--image`) against transformers' Qwen3-VL image processor and model.

The images are generated here (seeded): PNGs and JPEGs of many sizes and aspect ratios, in every PIL mode the
decoder expands (RGB, gray, RGBA, LA, bilevel, palette, tRNS colour keys in palette, gray and RGB PNGs, 16-bit
RGB, progressive and 4:4:4 JPEG),
and all eight EXIF orientations in JPEG and PNG. transformers' `AutoImageProcessor` (in this venv, without
torchvision, it picks `Qwen2VLImageProcessorPil`: Pillow's bicubic) is given each file's path, so it loads it as
for a user (`load_image`: EXIF transpose, convert("RGB")); ckpt-bridge decodes the same file with libpng/libjpeg
and processes it itself, and `--save-inputs` writes what it built. `image_grid_thw` must be identical and
`pixel_values` within 0.02 (PNG: exactly equal, since the resampling is Pillow's fixed point bit for bit).
Then the tiny fixtures' logits with an image prompt, from transformers and from `forward --image`, agree
within 5e-5, and `verify --image` passes on a Megatron-Bridge checkpoint.
"""
import io
import json
import os
import shutil
import struct
import zlib

import numpy as np
import pytest
import torch
import transformers
from PIL import Image, ImageOps
from safetensors.numpy import load_file, save_file
from transformers import AutoImageProcessor

from conftest import cli, fixture

DENSE = "qwen3_vl_dense_tiny"
SEED = 20261203


def _content(rng, h, w):
    """Smooth gradients with texture and noise: bicubic over- and undershoot and JPEG ringing both occur."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    phase = rng.uniform(0, 6.28, 3)
    chans = [127.5 + 100 * np.sin(x / rng.uniform(3, 40) + y / rng.uniform(3, 40) + p) for p in phase]
    img = np.stack(chans, -1) + rng.normal(0, 20, (h, w, 3))
    img[(x.astype(int) // 7 + y.astype(int) // 5) % 9 == 0] = 255  # hard edges
    return np.clip(img, 0, 255).astype(np.uint8)


def _make_images(folder):
    """The seeded images: (file name, what it exercises)."""
    rng = np.random.default_rng(SEED)
    made = []

    def save(name, im, **kw):
        path = os.path.join(folder, name)
        im.save(path, **kw)
        made.append(path)

    # (height, width): tiny (min-pixels upscale), odd sizes, tall, wide, square, near-multiples of 32.
    sizes = [(17, 23), (173, 251), (251, 173), (64, 640), (480, 40), (300, 300), (95, 33), (129, 1000),
             (33, 31), (512, 384), (200, 57), (57, 200)]
    for i, (h, w) in enumerate(sizes):
        rgb = _content(rng, h, w)
        if i % 2 == 0:
            save(f"rgb_{h}x{w}.png", Image.fromarray(rgb))
        else:
            save(f"rgb_{h}x{w}.jpg", Image.fromarray(rgb), quality=int(rng.integers(70, 96)))
    gray = _content(rng, 150, 90)[..., 0]
    save("gray_150x90.png", Image.fromarray(gray, "L"))
    save("gray_90x150.jpg", Image.fromarray(_content(rng, 90, 150)[..., 1], "L"), quality=88)
    rgba = np.concatenate([_content(rng, 120, 77), rng.integers(0, 256, (120, 77, 1), dtype=np.uint8)], -1)
    save("rgba_120x77.png", Image.fromarray(rgba, "RGBA"))
    pal = Image.fromarray(_content(rng, 66, 140)).quantize(colors=37, method=Image.Quantize.MEDIANCUT)
    save("palette_66x140.png", pal)
    save("palette_trns_66x140.png", pal, transparency=5)
    wide16 = (_content(rng, 45, 99).astype(np.uint16) * 257 + rng.integers(0, 256, (45, 99, 3))).astype(">u2")
    png16 = _png_bytes(45, 99, 16, 2, wide16.tobytes(), row_bytes=99 * 6)
    path16 = os.path.join(folder, "rgb16_45x99.png")
    with open(path16, "wb") as f:
        f.write(png16)
    made.append(path16)
    save("progressive_140x211.jpg", Image.fromarray(_content(rng, 140, 211)), quality=85, progressive=True)
    save("444_100x160.jpg", Image.fromarray(_content(rng, 100, 160)), quality=92, subsampling=0)
    # tRNS colour keys that occur in the image (PIL keeps them through convert("RGB"); they end up white).
    g = _content(rng, 52, 81)[..., 1] // 16 * 16
    save("gray_trns_52x81.png", Image.fromarray(g, "L"), transparency=int(g[0, 0]))
    c = _content(rng, 81, 52) // 32 * 32
    save("rgb_trns_81x52.png", Image.fromarray(c), transparency=tuple(int(v) for v in c[0, 0]))
    la = np.stack([_content(rng, 70, 45)[..., 0], rng.integers(0, 256, (70, 45), dtype=np.uint8)], -1)
    save("la_70x45.png", Image.fromarray(la, "LA"))
    save("bilevel_61x37.png", Image.fromarray(_content(rng, 61, 37)).convert("1"))
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        im = Image.fromarray(_content(rng, 48 + 7 * o, 90 - 5 * o))
        save(f"exif{o}_{48 + 7 * o}x{90 - 5 * o}.{'jpg' if o % 2 else 'png'}", im, exif=exif.tobytes())
    return made


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bytes(h, w, depth, color, raw, row_bytes):
    """A PNG written by hand (filter 0 on every row), for layouts PIL cannot save (16-bit RGB) and hostile headers."""
    rows = b"".join(b"\0" + raw[r * row_bytes:(r + 1) * row_bytes] for r in range(h)) if raw is not None else b""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")


def _ours(tmp, image, pre=None, model=DENSE):
    built = os.path.join(tmp, "built.safetensors")
    args = ["forward", fixture(f"{model}/hf"), "--image", image, "--out", os.path.join(tmp, "logits.safetensors"),
            "--save-inputs", built, "--threads", "1"]
    if pre:
        args += ["--preprocessor-config", pre]
    cli(*args)
    return load_file(built)


def _vertical_first(h, w, oh, ow):
    """Pillow 13's pass order (what the Swift resampler follows): vertical first iff the height shrinks by more
    than twice the pixels the width does."""
    return oh < h and h - oh > 2 * (w - ow)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("images"))
    return folder, _make_images(folder)


@pytest.mark.parametrize("limits", [None, {"shortest_edge": 4096, "longest_edge": 40000}], ids=["fixture-config", "max-pixels-40000"])
def test_pixel_values_match_transformers(images, tmp_path, limits):
    folder, paths = images
    assert len(paths) >= 12
    src = os.path.join(fixture(f"{DENSE}/hf"), "preprocessor_config.json")
    pre = None
    processor = AutoImageProcessor.from_pretrained(fixture(f"{DENSE}/hf"))
    if limits:
        cfg = json.load(open(src))
        cfg["size"] = limits
        pre = str(tmp_path / "preprocessor_config.json")
        json.dump(cfg, open(pre, "w"))
        processor = AutoImageProcessor.from_pretrained(str(tmp_path))
    assert type(processor).__name__ == "Qwen2VLImageProcessorPil", "the oracle is the PIL-backend processor"
    orders, worst = set(), 0.0
    for path in paths:
        ref = processor(images=[path], return_tensors="np")
        with Image.open(path) as im:
            size = ImageOps.exif_transpose(im).size
        mine = _ours(str(tmp_path), path, pre)
        assert mine["image_grid_thw"].tolist() == ref["image_grid_thw"].tolist(), path
        assert mine["pixel_values"].shape == ref["pixel_values"].shape, path
        diff = float(np.abs(mine["pixel_values"] - ref["pixel_values"]).max())
        print(f"{os.path.basename(path)}: grid {ref['image_grid_thw'].tolist()[0]}, pixel_values max abs diff {diff:.3g}")
        worst = max(worst, diff)
        assert diff <= 0.02, path
        if path.endswith(".png"):
            assert diff == 0.0, f"{path}: PNG decoding and Pillow's bicubic are matched bit for bit"
        _, gh, gw = ref["image_grid_thw"].tolist()[0]
        w, h = size
        oh, ow = gh * 16, gw * 16
        if (oh, ow) != (h, w) and oh != h and ow != w:
            orders.add(_vertical_first(h, w, oh, ow))
    print(f"worst pixel_values max abs diff over {len(paths)} images: {worst:.3g}")
    assert orders == {True, False}, "both of Pillow's pass orders are exercised"


def _ids_with_pad(cfg, n_before=5, n_after=4):
    """Text ids below every special id, around one unexpanded <|vision_start|><|image_pad|><|vision_end|>."""
    rng = np.random.default_rng(7)
    low = min(cfg["image_token_id"], cfg["vision_start_token_id"], cfg["text_config"]["vocab_size"])
    before = rng.integers(0, low, n_before).tolist()
    after = rng.integers(0, low, n_after).tolist()
    return before, after


@pytest.mark.parametrize("model,cls", [(DENSE, "Qwen3VLForConditionalGeneration"),
                                       ("qwen3_vl_moe_tiny", "Qwen3VLMoeForConditionalGeneration")])
def test_forward_image_logits_match_transformers(images, tmp_path, model, cls):
    folder, paths = images
    image = next(p for p in paths if p.endswith("rgb_173x251.jpg") or p.endswith("rgb_251x173.jpg"))
    hf = fixture(f"{model}/hf")
    cfg = json.load(open(os.path.join(hf, "config.json")))
    before, after = _ids_with_pad(cfg)
    vs, pad, ve = cfg["vision_start_token_id"], cfg["image_token_id"], cfg["vision_end_token_id"]
    # ckpt-bridge: the unexpanded form, one <|image_pad|> (what a tokenizer gives for the chat template).
    save_file({"input_ids": np.array([before + [vs, pad, ve] + after], dtype=np.int64)}, str(tmp_path / "ids.safetensors"))
    cli("forward", hf, "--inputs", tmp_path / "ids.safetensors", "--image", image, "--out", tmp_path / "logits.safetensors",
        "--save-inputs", tmp_path / "built.safetensors")
    mine = load_file(str(tmp_path / "logits.safetensors"))["logits"]
    built = load_file(str(tmp_path / "built.safetensors"))

    # transformers: its processor's pixel values, the pad repeated grid.prod() / merge² times as Qwen3VLProcessor does.
    processor = AutoImageProcessor.from_pretrained(hf)
    proc = processor(images=[image], return_tensors="pt")
    count = int(proc["image_grid_thw"].prod()) // (processor.merge_size ** 2)
    ids = torch.tensor([before + [vs] + [pad] * count + [ve] + after])
    assert built["input_ids"].tolist() == ids.tolist()
    m = getattr(transformers, cls).from_pretrained(hf, dtype=torch.float32).eval()
    with torch.no_grad():
        ref = m(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=proc["pixel_values"],
                image_grid_thw=proc["image_grid_thw"], mm_token_type_ids=(ids == pad).int(), use_cache=False).logits
    diff = float(np.abs(mine - ref.numpy()).max())
    print(f"{model}: {ids.shape[1]} tokens ({count} image tokens), logits max abs diff {diff:.3g}")
    assert mine.shape == tuple(ref.shape)
    assert diff <= 5e-5
    assert (mine.argmax(-1) == ref.numpy().argmax(-1)).all()


def test_verify_with_image_on_megatron_bridge_checkpoint(images):
    _, paths = images
    png = next(p for p in paths if p.endswith("palette_trns_66x140.png"))
    jpg = next(p for p in paths if p.endswith("progressive_140x211.jpg"))
    p = cli("verify", fixture(f"{DENSE}/hf"), fixture(f"{DENSE}/bridge_tp2_ep1/megatron"), "--image", png, "--image", jpg, "--json")
    report = json.loads(p.stdout)
    assert report["pass"] and report["inputs"][0]["max_abs"] is not None


def _hostile(folder):
    """Files that must be refused with a typed error (exit 2), each with the words the error must say."""
    rng = np.random.default_rng(3)
    good_png = io.BytesIO()
    Image.fromarray(_content(rng, 40, 40)).save(good_png, "PNG")
    good_png = good_png.getvalue()
    good_jpg = io.BytesIO()
    Image.fromarray(_content(rng, 40, 40)).save(good_jpg, "JPEG")
    good_jpg = good_jpg.getvalue()
    cmyk = io.BytesIO()
    Image.fromarray(_content(rng, 16, 16)).convert("CMYK").save(cmyk, "JPEG")
    bad_crc = bytearray(good_png)
    bad_crc[40] ^= 0xFF   # inside IDAT
    gray16 = _png_bytes(8, 8, 16, 0, bytes(8 * 8 * 2), row_bytes=16)
    cases = {
        "truncated.png": (good_png[: len(good_png) // 2], "PNG image"),
        "bad_crc.png": (bytes(bad_crc), "PNG image"),
        "huge.png": (_png_bytes(100000, 100000, 8, 2, None, 0), "above the limit"),
        "zero_width.png": (_png_bytes(8, 0, 8, 2, None, 0), "PNG image"),
        "gray16.png": (gray16, "16-bit grayscale"),
        "truncated.jpg": (good_jpg[: len(good_jpg) // 2], "JPEG image"),
        "cmyk.jpg": (cmyk.getvalue(), "CMYK"),
        "garbage.png": (b"GIF89a" + bytes(100), "not a PNG or JPEG"),
        "empty.jpg": (b"", "empty"),
    }
    out = []
    for name, (data, words) in cases.items():
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        out.append((path, words))
    return out


def test_hostile_images_are_refused_with_typed_errors(tmp_path):
    for path, words in _hostile(str(tmp_path)):
        logits = tmp_path / "logits.safetensors"
        p = cli("forward", fixture(f"{DENSE}/hf"), "--image", path, "--out", logits, check=False)
        assert p.returncode == 2, f"{path}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        assert words in p.stderr and os.path.basename(path) in p.stderr, f"{path}: {p.stderr}"
        assert not logits.exists()


def test_image_without_preprocessor_config_is_refused(tmp_path):
    hf = tmp_path / "hf"
    shutil.copytree(fixture(f"{DENSE}/hf"), hf)
    os.remove(hf / "preprocessor_config.json")
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    p = cli("forward", hf, "--image", img, "--out", tmp_path / "l.safetensors", check=False)
    assert p.returncode == 2 and "preprocessor_config.json" in p.stderr and "--preprocessor-config" in p.stderr
