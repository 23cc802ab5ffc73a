"""Videos through ckpt-bridge (`--video DIR --fps F`) against transformers' Qwen3-VL video processing and model,
on the tiny dense and MoE fixtures with the trained tokenizer (Fixtures/tokenizer).

This venv has no torchvision (no CPU build of it can be installed here), and transformers' video processor
class needs it as a whole; its steps are therefore run one by one, each with transformers' own code:
`Qwen3VLVideoProcessor.sample_frames` (frame sampling from the fixture's video_preprocessor_config.json, written
here from the class's defaults), the video `smart_resize`, `TorchvisionBackend._fuse_mean_std_and_rescale_factor`
with torchvision's normalize (subtract, divide), `Qwen3VLVideoProcessor.patchify`, and
`Qwen3VLProcessor.replace_video_token` (the `<t seconds>` timestamps from `_calculate_timestamps`) in the chat
template's `<|video_pad|>`. The one step left out is torchvision's resize: the frames here are made at the size
smart_resize keeps, so it is the identity (the test asserts that), and frames that need resizing are compared
on their grid only. Then `pixel_values_videos`, `video_grid_thw` and the input ids must be equal, the logits of
Qwen3VLModel (`get_rope_index` per temporal patch, the vision tower on the video) within 5e-5, and `generate`
equal to transformers' `generate(do_sample=False)`, from the HF folder and its Megatron import.
"""
import json
import os
import shutil
import types

import numpy as np
import pytest
import torch
import transformers
from PIL import Image
from safetensors.numpy import load_file, save_file
from transformers.image_processing_backends import TorchvisionBackend
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor, smart_resize
from transformers.video_utils import VideoMetadata

from conftest import cli, fixture

MODELS = [("qwen3_vl_dense_tiny", "Qwen3VLForConditionalGeneration", ["--tp", "2"]),
          ("qwen3_vl_moe_tiny", "Qwen3VLMoeForConditionalGeneration", ["--ep", "2"])]
NEW_TOKENS = 10
TEXT = "What happens in the video?"
VP = Qwen3VLVideoProcessor


def _defaults():
    """Qwen3VLVideoProcessor's class defaults, as a video_preprocessor_config.json would spell them."""
    return {"video_processor_type": "Qwen3VLVideoProcessor", "size": dict(VP.size), "patch_size": VP.patch_size,
            "temporal_patch_size": VP.temporal_patch_size, "merge_size": VP.merge_size, "fps": VP.fps,
            "min_frames": VP.min_frames, "max_frames": VP.max_frames, "do_sample_frames": VP.do_sample_frames,
            "image_mean": list(VP.image_mean), "image_std": list(VP.image_std), "rescale_factor": VP.rescale_factor,
            "do_resize": VP.do_resize, "do_rescale": VP.do_rescale, "do_normalize": VP.do_normalize,
            "do_convert_rgb": VP.do_convert_rgb, "resample": int(VP.resample)}


def _model_dir(model, dest):
    """The fixture with the trained tokenizer and a video_preprocessor_config.json of transformers' defaults."""
    shutil.copytree(fixture(f"{model}/hf"), dest)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(fixture(f"tokenizer/{f}"), dest / f)
    with open(dest / "video_preprocessor_config.json", "w") as f:
        json.dump(_defaults(), f, indent=2)
    return dest


def _frames(folder, count, h, w, seed):
    """`count` moving-gradient PNG frames of h×w named so that name order is time order."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(count):
        rgb = np.stack([(x * 3 + i * 17) % 256, (y * 5 + i * 29) % 256, ((x + y) * 2 + i * 7) % 256], -1)
        rgb = np.clip(rgb + rng.integers(-20, 21, rgb.shape), 0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(os.path.join(folder, f"frame_{i:04d}.png"))
        out.append(rgb)
    return np.stack(out)


def _reference(video, fps, cfg):
    """transformers' steps for one video (T, H, W, 3 uint8) at `fps`: pixel_values_videos, video_grid_thw and the
    replacement text of its <|video_pad|>."""
    meta = VideoMetadata(total_num_frames=len(video), fps=fps)
    conf = types.SimpleNamespace(fps=cfg["fps"], min_frames=cfg["min_frames"], max_frames=cfg["max_frames"])
    indices = VP.sample_frames(conf, meta)
    meta.frames_indices = indices
    clip = torch.from_numpy(video[indices]).permute(0, 3, 1, 2).contiguous()  # (T, C, H, W), as _prepare_input_videos
    factor = cfg["patch_size"] * cfg["merge_size"]
    size = smart_resize(num_frames=clip.shape[0], height=clip.shape[2], width=clip.shape[3], factor=factor,
                        temporal_factor=cfg["temporal_patch_size"], min_pixels=cfg["size"]["shortest_edge"],
                        max_pixels=cfg["size"]["longest_edge"])
    assert size == tuple(clip.shape[2:]), "frames are made at the smart-resize size, so torchvision's resize is the identity"
    mean, std, _ = TorchvisionBackend._fuse_mean_std_and_rescale_factor(
        object(), do_normalize=True, image_mean=tuple(cfg["image_mean"]), image_std=tuple(cfg["image_std"]),
        do_rescale=True, rescale_factor=cfg["rescale_factor"])
    normed = clip.to(torch.float32).sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))  # torchvision's normalize
    patches, t, gh, gw = VP.patchify(None, normed[None], patch_size=cfg["patch_size"], merge_size=cfg["merge_size"],
                                     temporal_patch_size=cfg["temporal_patch_size"])
    grid = torch.tensor([[t, gh, gw]])
    holder = types.SimpleNamespace(video_processor=types.SimpleNamespace(merge_size=cfg["merge_size"],
                                                                         temporal_patch_size=cfg["temporal_patch_size"]),
                                   vision_start_token="<|vision_start|>", vision_end_token="<|vision_end|>",
                                   video_token="<|video_pad|>")
    holder._calculate_timestamps = lambda *a: Qwen3VLProcessor._calculate_timestamps(holder, *a)
    text = Qwen3VLProcessor.replace_video_token(holder, {"video_grid_thw": grid, "video_metadata": [meta]}, video_idx=0)
    return patches[0], grid, text


def _prompt_ids(tok, replacement):
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": TEXT}]}]
    chat = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert chat.count("<|video_pad|>") == 1
    return torch.tensor([tok(chat.replace("<|video_pad|>", replacement, 1))["input_ids"]])


@pytest.mark.parametrize("model,cls,flags", MODELS, ids=[m[0] for m in MODELS])
def test_video_prompt_equals_transformers(out, model, cls, flags):
    hf = _model_dir(model, out / "hf")
    cfg = json.load(open(hf / "video_preprocessor_config.json"))
    # 11 frames at 5 fps: int(11 / 5 · 2) = 4 frames sampled, [0, 3, 7, 10], two temporal patches, times
    # 0.3 and 1.7 s; 128×256 frames are 4·128·256 = min pixels, which smart resize keeps.
    video = _frames(out / "frames", 11, 128, 256, seed=5)
    fps = 5.0
    pv, grid, replacement = _reference(video, fps, cfg)
    tok = transformers.AutoTokenizer.from_pretrained(str(hf))
    ids = _prompt_ids(tok, replacement)
    vid = tok.convert_tokens_to_ids("<|video_pad|>")
    eos = tok.convert_tokens_to_ids("<|im_end|>")

    cli("forward", hf, "--prompt", TEXT, "--video", out / "frames", "--fps", fps, "--out", out / "logits.safetensors",
        "--save-inputs", out / "built.safetensors")
    built = load_file(str(out / "built.safetensors"))
    assert built["video_grid_thw"].tolist() == grid.tolist()
    assert np.array_equal(built["pixel_values_videos"], pv.numpy()), "pixel_values_videos bit-exact"
    assert built["input_ids"].tolist() == ids.tolist()
    assert "pixel_values" not in built

    m = getattr(transformers, cls).from_pretrained(str(hf), dtype=torch.float32).eval()
    kw = dict(pixel_values_videos=pv, video_grid_thw=grid, mm_token_type_ids=(ids == vid).int() * 2)
    with torch.no_grad():
        ref = m(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False, **kw).logits[0].numpy()
        gen = m.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=NEW_TOKENS,
                         eos_token_id=eos, pad_token_id=eos, **kw)
    mine = load_file(str(out / "logits.safetensors"))["logits"].reshape(ref.shape)
    diff = float(np.abs(mine - ref).max())
    print(f"{model}: {ids.shape[1]} tokens, video grid {grid.tolist()[0]}, logits max abs diff {diff:.3g}")
    assert diff <= 5e-5
    # The inputs as written (pixel_values_videos, video_grid_thw) read back through --inputs give the same logits.
    cli("forward", hf, "--inputs", out / "built.safetensors", "--out", out / "again.safetensors")
    assert np.array_equal(load_file(str(out / "again.safetensors"))["logits"], load_file(str(out / "logits.safetensors"))["logits"])
    expected = gen[0, ids.shape[1]:].tolist()
    assert len(expected) == NEW_TOKENS

    meg = out / "megatron"
    cli("import", hf, meg, *flags)
    for ckpt in (hf, meg):
        got = json.loads(cli("generate", ckpt, "--prompt", TEXT, "--video", out / "frames", "--fps", fps,
                             "--max-new-tokens", NEW_TOKENS, "--json").stdout)
        assert got["prompt_ids"] == ids[0].tolist(), ckpt
        assert got["generated_ids"] == expected, ckpt


CONFIGS = {"defaults": {}, "num-frames-6": {"fps": None, "num_frames": 6},
           "fps-3-pixels": {"fps": 3, "min_frames": 2, "size": {"shortest_edge": 4096, "longest_edge": 60000}}}


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_video_sampling_and_grids_match_transformers(out, overrides):
    """Frame counts and sizes that exercise sampling (clamps to min_frames and to the clip, odd counts padded to a
    temporal patch, a fixed num_frames) and smart resize (min-pixel upscale, max-pixel downscale, sides below 32):
    the grid and the timestamps of ckpt-bridge's prompt equal transformers'."""
    hf = _model_dir("qwen3_vl_dense_tiny", out / "hf")
    cfg = dict(_defaults(), **overrides)
    with open(hf / "video_preprocessor_config.json", "w") as f:
        json.dump(cfg, f)
    tok = transformers.AutoTokenizer.from_pretrained(str(hf))
    cases = [(3, 40, 60, 1.0), (5, 128, 256, 30.0), (17, 64, 96, 4.0), (9, 300, 500, 2.0), (26, 20, 90, 10.0),
             (7, 500, 128, 3.5)]
    for i, (count, h, w, fps) in enumerate(cases):
        folder = out / f"clip{i}"
        video = _frames(folder, count, h, w, seed=i)
        meta = VideoMetadata(total_num_frames=count, fps=fps)
        conf = types.SimpleNamespace(fps=cfg["fps"], min_frames=cfg["min_frames"], max_frames=cfg["max_frames"])
        # preprocess passes the config's num_frames and fps (None when unset) to sample_frames.
        indices = VP.sample_frames(conf, meta, num_frames=cfg.get("num_frames"), fps=cfg["fps"])
        meta.frames_indices = indices
        factor = cfg["patch_size"] * cfg["merge_size"]
        rh, rw = smart_resize(num_frames=len(indices), height=h, width=w, factor=factor, temporal_factor=cfg["temporal_patch_size"],
                              min_pixels=cfg["size"]["shortest_edge"], max_pixels=cfg["size"]["longest_edge"])
        t = -(-len(indices) // cfg["temporal_patch_size"])
        grid = torch.tensor([[t, rh // cfg["patch_size"], rw // cfg["patch_size"]]])
        holder = types.SimpleNamespace(video_processor=types.SimpleNamespace(merge_size=cfg["merge_size"],
                                                                             temporal_patch_size=cfg["temporal_patch_size"]),
                                       vision_start_token="<|vision_start|>", vision_end_token="<|vision_end|>",
                                       video_token="<|video_pad|>")
        holder._calculate_timestamps = lambda *a, holder=holder: Qwen3VLProcessor._calculate_timestamps(holder, *a)
        replacement = Qwen3VLProcessor.replace_video_token(holder, {"video_grid_thw": grid, "video_metadata": [meta]}, video_idx=0)
        ids = _prompt_ids(tok, replacement)
        cli("forward", hf, "--prompt", TEXT, "--video", folder, "--fps", fps, "--out", out / "l.safetensors",
            "--save-inputs", out / "b.safetensors")
        built = load_file(str(out / "b.safetensors"))
        print(f"{count} frames {h}x{w} at {fps} fps: sampled {list(indices)}, grid {grid.tolist()[0]}")
        assert built["video_grid_thw"].tolist() == grid.tolist(), (count, h, w, fps)
        assert built["input_ids"].tolist() == ids.tolist(), (count, h, w, fps)


def test_video_refusals(out):
    """No --fps, frames of two sizes, a stray file in the folder, a truncated frame, and a processor option not
    implemented: each a typed error (exit 2) naming the cause."""
    hf = _model_dir("qwen3_vl_dense_tiny", out / "hf")
    _frames(out / "frames", 4, 64, 64, seed=1)
    p = cli("generate", hf, "--prompt", TEXT, "--video", out / "frames", check=False)
    assert p.returncode != 0 and "--fps" in p.stderr
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(out / "frames" / "frame_9999.png")
    p = cli("generate", hf, "--prompt", TEXT, "--video", out / "frames", "--fps", 2, check=False)
    assert p.returncode == 2 and "frame_9999.png" in p.stderr
    (out / "frames" / "frame_9999.png").unlink()
    (out / "frames" / "notes.txt").write_text("x")
    p = cli("generate", hf, "--prompt", TEXT, "--video", out / "frames", "--fps", 2, check=False)
    assert p.returncode == 2 and "notes.txt" in p.stderr
    (out / "frames" / "notes.txt").unlink()
    good = (out / "frames" / "frame_0001.png").read_bytes()
    (out / "frames" / "frame_0001.png").write_bytes(good[:len(good) // 2])
    p = cli("generate", hf, "--prompt", TEXT, "--video", out / "frames", "--fps", 2, check=False)
    assert p.returncode == 2 and "frame_0001.png" in p.stderr
    (out / "frames" / "frame_0001.png").write_bytes(good)
    cfg = dict(_defaults(), cap_pixels_per_frame=True)
    with open(out / "capped.json", "w") as f:
        json.dump(cfg, f)
    p = cli("generate", hf, "--prompt", TEXT, "--video", out / "frames", "--fps", 2, "--video-preprocessor-config",
            out / "capped.json", check=False)
    assert p.returncode == 2 and "cap_pixels_per_frame" in p.stderr


class _ImageExpander:
    """What Qwen3VLProcessor.replace_image_token reads from its processor."""
    image_token = "<|image_pad|>"

    def __init__(self, image_processor):
        self.image_processor = image_processor


@pytest.mark.parametrize("model,cls", [(m, c) for m, c, _ in MODELS], ids=[m[0] for m in MODELS])
def test_image_and_video_prompt_equals_transformers(out, model, cls):
    """An image and a video in one prompt (the image first): the vision rows and DeepStack's rows of both are put in
    token order (transformers' visual_pos_masks); ids equal, logits within 5e-5."""
    hf = _model_dir(model, out / "hf")
    cfg = json.load(open(hf / "video_preprocessor_config.json"))
    video = _frames(out / "frames", 6, 128, 256, seed=9)
    fps = 2.0
    pv, grid, replacement = _reference(video, fps, cfg)
    image = str(out / "still.png")
    y, x = np.mgrid[0:70, 0:90]
    Image.fromarray(np.stack([x * 2, y * 3, (x * y) % 256], -1).astype(np.uint8)).save(image)
    ip = transformers.AutoImageProcessor.from_pretrained(str(hf))
    proc = ip(images=[image], return_tensors="pt")
    tok = transformers.AutoTokenizer.from_pretrained(str(hf))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "video"}, {"type": "text", "text": TEXT}]}]
    chat = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    chat = chat.replace("<|image_pad|>", Qwen3VLProcessor.replace_image_token(_ImageExpander(ip), proc, image_idx=0), 1)
    ids = torch.tensor([tok(chat.replace("<|video_pad|>", replacement, 1))["input_ids"]])
    img, vid = tok.convert_tokens_to_ids("<|image_pad|>"), tok.convert_tokens_to_ids("<|video_pad|>")

    cli("forward", hf, "--prompt", TEXT, "--image", image, "--video", out / "frames", "--fps", fps,
        "--out", out / "logits.safetensors", "--save-inputs", out / "built.safetensors")
    built = load_file(str(out / "built.safetensors"))
    assert built["input_ids"].tolist() == ids.tolist()
    assert np.array_equal(built["pixel_values"], proc["pixel_values"].numpy())
    assert np.array_equal(built["pixel_values_videos"], pv.numpy())

    m = getattr(transformers, cls).from_pretrained(str(hf), dtype=torch.float32).eval()
    with torch.no_grad():
        ref = m(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False, pixel_values=proc["pixel_values"],
                image_grid_thw=proc["image_grid_thw"], pixel_values_videos=pv, video_grid_thw=grid,
                mm_token_type_ids=(ids == img).int() + (ids == vid).int() * 2).logits[0].numpy()
    mine = load_file(str(out / "logits.safetensors"))["logits"].reshape(ref.shape)
    diff = float(np.abs(mine - ref).max())
    print(f"{model}: image {proc['image_grid_thw'].tolist()[0]} + video {grid.tolist()[0]}, logits max abs diff {diff:.3g}")
    assert diff <= 5e-5

    # The video before the image (an order --prompt does not write), through --inputs: the rows must be joined in
    # token order, not image rows then video rows.
    messages[0]["content"][:2] = messages[0]["content"][1::-1]
    chat = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert chat.index("<|video_pad|>") < chat.index("<|image_pad|>")
    chat = chat.replace("<|image_pad|>", Qwen3VLProcessor.replace_image_token(_ImageExpander(ip), proc, image_idx=0), 1)
    ids = torch.tensor([tok(chat.replace("<|video_pad|>", replacement, 1))["input_ids"]])
    save_file({"input_ids": ids.numpy(), "pixel_values": proc["pixel_values"].numpy(), "image_grid_thw": proc["image_grid_thw"].numpy(),
               "pixel_values_videos": pv.numpy(), "video_grid_thw": grid.numpy()}, str(out / "video_first.safetensors"))
    cli("forward", hf, "--inputs", out / "video_first.safetensors", "--out", out / "logits2.safetensors")
    with torch.no_grad():
        ref = m(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False, pixel_values=proc["pixel_values"],
                image_grid_thw=proc["image_grid_thw"], pixel_values_videos=pv, video_grid_thw=grid,
                mm_token_type_ids=(ids == img).int() + (ids == vid).int() * 2).logits[0].numpy()
    diff = float(np.abs(load_file(str(out / "logits2.safetensors"))["logits"].reshape(ref.shape) - ref).max())
    print(f"{model}: video first, logits max abs diff {diff:.3g}")
    assert diff <= 5e-5
