"""`ckpt-bridge generate` against transformers' own greedy generate(do_sample=False), on the tiny dense and
MoE fixtures with the tokenizer that `tokenizers` trained (Fixtures/tokenizer) copied beside the weights, from
the HF folder and from a Megatron import of it; the chat prompt's ids against transformers'
apply_chat_template with the fixture's chat template."""
import json
import shutil

import pytest
import torch
import transformers

from conftest import cli, fixture

MODELS = [("qwen3_vl_dense_tiny", "Qwen3VLForConditionalGeneration", ["--tp", "2"]),
          ("qwen3_vl_moe_tiny", "Qwen3VLMoeForConditionalGeneration", ["--ep", "2"])]
PROMPTS = [("Describe a sunset over the sea.", None, False),
           ("中文 and emoji 😀, digits 12345\n\n  spaces", "You are a helpful assistant.", False),
           ("<|im_start|>user\nraw prompt<|im_end|>\n<|im_start|>assistant\n", None, True)]
NEW_TOKENS = 12


def with_tokenizer(model, dest):
    shutil.copytree(fixture(f"{model}/hf"), dest)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(fixture(f"tokenizer/{f}"), dest / f)
    return dest


@pytest.mark.parametrize("model,cls,flags", MODELS, ids=[m[0] for m in MODELS])
def test_generate_equals_transformers(out, model, cls, flags):
    hf = with_tokenizer(model, out / "hf")
    meg = out / "megatron"
    cli("import", hf, meg, *flags)
    tok = transformers.AutoTokenizer.from_pretrained(str(hf))
    m = getattr(transformers, cls).from_pretrained(str(hf), dtype=torch.float32).eval()
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    for text, system, raw in PROMPTS:
        if raw:
            ids = tok(text)["input_ids"]
        else:
            messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
        with torch.no_grad():
            ref = m.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             do_sample=False, max_new_tokens=NEW_TOKENS, eos_token_id=eos, pad_token_id=eos)
        expected = ref[0, len(ids):].tolist()
        args = ["--prompt", text, "--max-new-tokens", NEW_TOKENS, "--json"] + (["--raw"] if raw else []) + (["--system", system] if system else [])
        for ckpt in (hf, meg):
            got = json.loads(cli("generate", ckpt, *args).stdout)
            assert got["prompt_ids"] == ids, (ckpt, text)
            assert got["generated_ids"] == expected, (ckpt, text)
            assert got["text"] == tok.decode(expected, skip_special_tokens=True)
            assert all(s["top"][0]["id"] == s["token"] and len(s["top"]) == 5 for s in got["steps"])


def test_verify_prompt_and_generate(out):
    hf = with_tokenizer("qwen3_vl_moe_tiny", out / "hf")
    meg = out / "megatron"
    cli("import", hf, meg, "--tp", "2", "--ep", "2", "--vision-layout", "hf")
    got = json.loads(cli("verify", hf, meg, "--prompt", "Describe a sunset.", "--generate", 8, "--json").stdout)
    assert got["pass"] and got["generate"]["agree"] and len(got["generate"]["hf_ids"]) == 8
    assert got["generate"]["hf_ids"] == got["generate"]["megatron_ids"]
    tok = transformers.AutoTokenizer.from_pretrained(str(hf))
    ids = tok.apply_chat_template([{"role": "user", "content": "Describe a sunset."}], add_generation_prompt=True,
                                  tokenize=True, return_dict=False)
    assert got["inputs"][0]["tokens"] == len(ids)


class _ImageExpander:
    """What Qwen3VLProcessor.replace_image_token reads from its processor (the image processor's merge size and
    the pad token): this venv has no torchvision, which a whole Qwen3VLProcessor needs for its video half, so
    its image expansion is called on the real image processor through this."""
    image_token = "<|image_pad|>"

    def __init__(self, image_processor):
        self.image_processor = image_processor


def _image_prompt_reference(hf, m, image, text):
    """transformers' ids and greedy continuation for one image and text in a user turn: the chat template's
    <|image_pad|> expanded by Qwen3VLProcessor.replace_image_token over the PIL image processor's grid."""
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
    tok = transformers.AutoTokenizer.from_pretrained(str(hf))
    ip = transformers.AutoImageProcessor.from_pretrained(str(hf))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    chat = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    proc = ip(images=[image], return_tensors="pt")
    chat = chat.replace("<|image_pad|>", Qwen3VLProcessor.replace_image_token(_ImageExpander(ip), proc, image_idx=0), 1)
    ids = torch.tensor([tok(chat)["input_ids"]])
    pad = tok.convert_tokens_to_ids("<|image_pad|>")
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    with torch.no_grad():
        ref = m.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=proc["pixel_values"],
                         image_grid_thw=proc["image_grid_thw"], mm_token_type_ids=(ids == pad).int(),
                         do_sample=False, max_new_tokens=NEW_TOKENS, eos_token_id=eos, pad_token_id=eos)
    return ids[0].tolist(), ref[0, ids.shape[1]:].tolist()


@pytest.mark.parametrize("model,cls,flags", MODELS, ids=[m[0] for m in MODELS])
def test_generate_image_prompt_equals_transformers(out, model, cls, flags):
    """`generate --prompt --image FILE` from the HF folder and its Megatron import: the prompt ids and the greedy
    ids equal transformers' generate(do_sample=False) with the same image file and text."""
    import numpy as np
    from PIL import Image
    hf = with_tokenizer(model, out / "hf")
    meg = out / "megatron"
    cli("import", hf, meg, *flags)
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:77, 0:121]
    rgb = np.stack([x * 2, y * 3, (x + y) % 256], -1) + rng.integers(0, 40, (77, 121, 3))
    image = str(out / "scene.png")
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(image)
    text = "What is in the picture?"
    m = getattr(transformers, cls).from_pretrained(str(hf), dtype=torch.float32).eval()
    ids, expected = _image_prompt_reference(hf, m, image, text)
    assert len(expected) == NEW_TOKENS
    for ckpt in (hf, meg):
        got = json.loads(cli("generate", ckpt, "--prompt", text, "--image", image, "--max-new-tokens", NEW_TOKENS, "--json").stdout)
        assert got["prompt_ids"] == ids, ckpt
        assert got["generated_ids"] == expected, ckpt
