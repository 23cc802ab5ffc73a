"""The tokenizer fixture (Fixtures/tokenizer/, see Fixtures/README.md), made by Hugging Face `tokenizers` and
transformers themselves in the interop venv:

  .venv/bin/python scripts/oracle/make_tokenizer_fixture.py Fixtures/tokenizer

1. Trains a byte-level BPE with `tokenizers` the way Qwen2's tokenizer is built: NFC normalizer, a Split
   pre-tokenizer with Qwen2's regex (behavior isolated) followed by ByteLevel (no prefix space, no regex),
   the ByteLevel decoder and post-processor, 256 byte symbols plus merges up to 1,000 tokens, trained on
   English text and the seeded strings of tokenizer_strings.py (seed 1).
2. Adds the Qwen3-VL added tokens after the vocabulary in Qwen3-VL's order, so they get the ids the tiny
   model fixtures use (<|endoftext|> 1000, <|im_end|> 1002, <|vision_start|> 1009, <|image_pad|> 1012,
   <|video_pad|> 1013): the first 14 special, the rest not, none normalized (as in Qwen's tokenizer.json).
3. Writes tokenizer.json (tokenizers' own save) and tokenizer_config.json in Qwen2TokenizerFast's form with
   the one-turn part of Qwen3-VL-Instruct's chat template (system message, user turn of text, image and
   video items, generation prompt; tools and assistant turns left out), then reloads the folder with
   transformers' AutoTokenizer and checks it encodes like `tokenizers`.
4. Records cases.json: 2,500 seeded strings (seed 2) with `tokenizers`' ids; 600 random id lists with
   decode(skip_special_tokens=False/True); and chat prompts rendered by transformers' Qwen3VLProcessor
   (apply_chat_template, then the processor's own image-pad expansion for images of several sizes, using
   the tiny model's preprocessor_config.json) with their ids and image_grid_thw.
"""
import json
import os
import sys

import numpy as np
from PIL import Image
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_strings as ts  # noqa: E402

QWEN2_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
VOCAB = 1000
SPECIAL = 14   # <|endoftext|> … <|video_pad|>

CHAT_TEMPLATE = (
    "{%- if messages[0].role == 'system' %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0].content is string %}{{- messages[0].content }}"
    "{%- else %}{%- for content in messages[0].content %}{%- if 'text' in content %}{{- content.text }}{%- endif %}{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- set image_count = namespace(value=0) %}{%- set video_count = namespace(value=0) %}"
    "{%- for message in messages %}{%- if message.role == 'user' %}"
    "{{- '<|im_start|>' + message.role + '\\n' }}"
    "{%- if message.content is string %}{{- message.content }}"
    "{%- else %}{%- for content in message.content %}"
    "{%- if content.type == 'image' or 'image' in content or 'image_url' in content %}"
    "{%- set image_count.value = image_count.value + 1 %}"
    "{%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif content.type == 'video' or 'video' in content %}"
    "{%- set video_count.value = video_count.value + 1 %}"
    "{%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in content %}{{- content.text }}"
    "{%- endif %}{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def corpus():
    import codecs
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        import this  # noqa: F401  (the Zen of Python, rot13-encoded in the module: a small English corpus)
    english = codecs.decode(sys.modules["this"].s, "rot13")
    docs = [m.__doc__ or "" for m in (json, os, np, codecs)]
    lines = (english + "\n".join(docs)).splitlines()
    return lines * 3 + ts.strings(1, 4000)


def train(out):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, special_tokens=[])
    tok.train_from_iterator(corpus(), trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ts.ADDED[:SPECIAL]])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ts.ADDED[SPECIAL:]])
    assert tok.token_to_id("<|image_pad|>") == 1012 and tok.token_to_id("<|im_end|>") == 1002
    tok.save(os.path.join(out, "tokenizer.json"))
    return Tokenizer.from_file(os.path.join(out, "tokenizer.json"))


def write_config(out, tok):
    decoder = {}
    for i in range(VOCAB, tok.get_vocab_size()):
        decoder[str(i)] = {"content": tok.id_to_token(i), "lstrip": False, "normalized": False, "rstrip": False,
                           "single_word": False, "special": i < VOCAB + SPECIAL}
    config = {"add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": decoder,
              "additional_special_tokens": ts.ADDED[1:SPECIAL], "bos_token": None, "chat_template": CHAT_TEMPLATE,
              "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
              "model_max_length": 262144, "pad_token": "<|endoftext|>", "split_special_tokens": False,
              "tokenizer_class": "Qwen2Tokenizer", "unk_token": None}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")


def chat_cases(out, tok):
    from transformers import AutoTokenizer, Qwen2VLImageProcessor, Qwen3VLProcessor
    from transformers.processing_utils import ProcessorMixin
    # The venv has no torchvision, so transformers cannot build Qwen3-VL's video processor, and the processor's
    # constructor type-checks every sub-processor; the check is skipped (video_processor=None). Nothing here
    # touches video: images and text go through the processor's own code.
    ProcessorMixin.check_argument_for_proper_class = lambda self, name, arg: None
    fixtures = os.path.dirname(os.path.abspath(out))
    hf_tok = AutoTokenizer.from_pretrained(out)
    image_processor = Qwen2VLImageProcessor.from_pretrained(os.path.join(fixtures, "qwen3_vl_dense_tiny", "hf"))
    processor = Qwen3VLProcessor(image_processor=image_processor, tokenizer=hf_tok, chat_template=CHAT_TEMPLATE)
    for s in ts.strings(3, 200):   # transformers' tokenizer agrees with tokenizers on the saved folder
        assert hf_tok(s)["input_ids"] == tok.encode(s).ids, repr(s)
    rng = np.random.default_rng(4)
    prompts = [("Describe the image.", None, [(64, 64)]), ("What is in these pictures?", "You are a helpful assistant.", [(32, 96), (100, 50)]),
               ("hello", None, []), ("中文 prompt with emoji 😀 and\nnew lines", "system 🤖", []),
               ("<|im_end|> inside user text", None, [(48, 48)]), ("", None, [(40, 72)]),
               ("text before", None, [(64, 128), (30, 30), (90, 60)])]
    cases = []
    for text, system, sizes in prompts:
        content = [{"type": "image"} for _ in sizes] + ([{"type": "text", "text": text}] if text else [])
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
        rendered = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
        enc = processor(text=[rendered], images=images or None, return_tensors="np")
        grid = enc["image_grid_thw"].tolist() if sizes else []
        cases.append({"system": system, "text": text, "image_grid_thw": grid, "rendered": rendered,
                      "ids": enc["input_ids"][0].tolist()})
    return cases


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tok = train(out)
    write_config(out, tok)
    encode = [{"text": s, "ids": tok.encode(s).ids} for s in ts.strings(2, 2500)]
    decode = [{"ids": ids, "text": tok.decode(ids, skip_special_tokens=False), "skip_special": tok.decode(ids, skip_special_tokens=True)}
              for ids in ts.id_lists(5, 600, tok.get_vocab_size())]
    cases = {"made_by": "scripts/oracle/make_tokenizer_fixture.py (tokenizers %s)" % __import__("tokenizers").__version__,
             "encode": encode, "decode": decode, "chat": chat_cases(out, tok)}
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{out}: vocab {tok.get_vocab_size()}, {len(encode)} encode, {len(decode)} decode, {len(cases['chat'])} chat cases")


if __name__ == "__main__":
    main()
