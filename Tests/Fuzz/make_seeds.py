#!/usr/bin/env python3
"""Seed corpora for the fuzz harnesses (Tests/Fuzz/README.md), written into a build folder, never committed.

Usage: make_seeds.py OUT_DIR ORACLE_DIR

Seeds come from the fixtures (Fixtures/ and the unpacked oracle archive): every config.json, index and
JSON file, run_config.yaml, .metadata, and small .pt file as upstream wrote them; the pickles inside
those .pt files; and, because the fixture safetensors files are megabytes, small safetensors files with
the fixtures' tensor names, dtypes and metadata re-saved by the safetensors library with tiny shapes.
A few more are made by the real libraries so every branch has a start: torch.save of tensors of every
dtype, views with storage offsets, a legacy-style rank dict; torch.distributed.checkpoint's .metadata;
CPython pickles at protocols 0-5.
"""
import argparse
import hashlib
import io
import json
import os
import pickle
import sys
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_SEED = 128 * 1024  # libFuzzer mutates slowly past this; real metadata files stay below it
# The pickle VM decodes a 60 KB .metadata in tens of milliseconds under ASan; its own harness keeps the
# small pickles (the dcp-metadata harness has the large ones).
MAX_SEED_FOR = {"pickle": 16 * 1024}


class Corpus:
    def __init__(self, out: Path):
        self.out = out
        self.counts = {}

    def add(self, target: str, data: bytes):
        if len(data) > MAX_SEED_FOR.get(target, MAX_SEED):
            return
        d = self.out / target
        d.mkdir(parents=True, exist_ok=True)
        # Content-named like libFuzzer's own corpus files, so duplicates collapse.
        (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
        self.counts[target] = self.counts.get(target, 0) + 1


def files(roots, suffix):
    for r in roots:
        if r.is_dir():
            yield from sorted(p for p in r.rglob("*") if p.is_file() and p.name.endswith(suffix))


def torch_save_bytes(obj) -> bytes:
    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def pickles_in_pt(data: bytes):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for n in z.namelist():
                if n.endswith("data.pkl"):
                    yield z.read(n)
    except zipfile.BadZipFile:
        return


def reduced_dcp_metadata(data: bytes, keep=(1, 3, 8)):
    """A real `.metadata` cut down to its first few keys (every chunk of each, the storage entries of those
    chunks, the rest of the object as it was) and pickled again as torch does (`pickle.dump`, default
    protocol). The fixtures' files are 20-70 KB, where one execution costs milliseconds; these are 1-8 KB
    with the same classes, field order and MCore subclass, so the fuzzer starts deep at a small size."""
    import torch  # noqa: F401  (the classes the pickle names)
    import torch.distributed.checkpoint.metadata  # noqa: F401
    try:
        md = pickle.loads(data)
    except Exception:
        return
    keys = list(md.state_dict_metadata)
    for k in keep:
        if k >= len(keys):
            continue
        kept = set(keys[:k])
        import copy
        m = copy.copy(md)
        m.state_dict_metadata = {key: v for key, v in md.state_dict_metadata.items() if key in kept}
        m.storage_data = {i: v for i, v in md.storage_data.items() if i.fqn in kept}
        if getattr(m, "planner_data", None):
            m.planner_data = {key: v for key, v in md.planner_data.items() if key in kept}
        if hasattr(m, "all_local_plans"):
            m.all_local_plans = None
        yield pickle.dumps(m)


def tiny_tokenizers():
    sys.path.insert(0, str(ROOT / "scripts" / "oracle"))
    from make_tokenizer_fixture import QWEN2_SPLIT
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    text = ["Hello, world! 你好 e\u0301 12345", "the quick brown fox jumps over the lazy dog", "  tabs\tand\nlines\r\n"]
    for vocab, nfc in ((260, True), (300, True), (280, False)):
        tok = Tokenizer(models.BPE())
        if nfc:
            tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(vocab_size=vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train_from_iterator(text * 4, trainer)
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")])
        tok.add_tokens([AddedToken("<think>", special=False, normalized=False)])
        yield tok.to_str().encode()


def tiny_safetensors(header: dict) -> bytes:
    import torch
    from safetensors.torch import save
    dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
              "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
              "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}
    meta = header.pop("__metadata__", None)
    tensors = {}
    for name, info in list(header.items())[:16]:
        shape = [min(d, 2) for d in info["shape"]]
        tensors[name] = torch.zeros(shape, dtype=dtypes[info["dtype"]])
    return save(tensors, metadata=meta)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("oracle", type=Path)
    a = ap.parse_args()
    c = Corpus(a.out)
    roots = [ROOT / "Fixtures", a.oracle]

    for p in files(roots, ".json"):
        data = p.read_bytes()
        c.add("json", data)
        if p.name == "config.json":
            c.add("config", data)
            # The text-only families read the text section at the top level.
            cfg = json.loads(data)
            if "text_config" in cfg:
                text = dict(cfg["text_config"])
                moe = "moe" in cfg.get("model_type", "")
                text["architectures"] = ["Qwen3MoeForCausalLM" if moe else "Qwen3ForCausalLM"]
                text["model_type"] = "qwen3_moe" if moe else "qwen3"
                text.pop("rope_parameters", None)
                text.setdefault("rope_theta", 5000000.0)
                c.add("config", json.dumps(text, indent=2).encode())
        if p.name.endswith(".index.json"):
            c.add("safetensors-index", data)
    for p in files(roots, ".safetensors"):
        with open(p, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        names = [k for k in header if k != "__metadata__"]
        c.add("safetensors-header", tiny_safetensors(header))
        shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        index = {"metadata": {"total_size": sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__")},
                 "weight_map": {k: shards[i % 2] for i, k in enumerate(names)}}
        c.add("safetensors-index", json.dumps(index, indent=2).encode())
        c.add("json", json.dumps(index).encode())
    for p in files(roots, "run_config.yaml"):
        c.add("run-config", p.read_bytes())
    for p in sorted((ROOT / "Mappings").rglob("*.yaml")):
        c.add("yaml-table", p.read_bytes())
    for p in files(roots, ".metadata"):
        data = p.read_bytes()
        c.add("dcp-metadata", data)
        c.add("pickle", data)
        for small in reduced_dcp_metadata(data):
            c.add("dcp-metadata", small)
            c.add("pickle", small)
    for p in files(roots, ".pt"):
        data = p.read_bytes()
        c.add("zip", data)
        c.add("torch-save", data)
        for pkl in pickles_in_pt(data):
            c.add("pickle", pkl)

    # Made by the real libraries: every dtype, views into shared storages, nested and legacy-style dicts.
    import argparse as ap_mod
    import torch
    made = []
    for dt in [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.int8, torch.uint8, torch.bool]:
        made.append({"w": torch.arange(6).reshape(2, 3).to(dt)})
    base = torch.arange(24, dtype=torch.float32)
    made.append({"view": base[5:11].reshape(2, 3), "same": base, "scalar": torch.tensor(1.5), "empty": torch.zeros(0, 4)})
    made.append(OrderedDict([("a", {"b": {"c": torch.ones(2)}}), ("n", 3), ("s", "text"), ("l", [1, 2.5, None, True]), ("t", (1, "x"))]))
    made.append({"args": ap_mod.Namespace(tensor_model_parallel_size=1, pipeline_model_parallel_size=1, num_layers=2),
                 "checkpoint_version": 3.0, "iteration": 7,
                 "model": {"language_model.embedding.word_embeddings.weight": torch.ones(4, 2, dtype=torch.bfloat16)}})
    made.append(torch.nn.Parameter(torch.ones(3)).data)
    for obj in made:
        data = torch_save_bytes(obj)
        c.add("torch-save", data)
        c.add("zip", data)
        for pkl in pickles_in_pt(data):
            c.add("pickle", pkl)
    # A zip torch never writes but the reader must handle: deflate, a comment, zip64 extras.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.comment = b"comment"
        z.writestr("archive/version", "3\n")
        z.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
    c.add("zip", buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data/0", b"\0" * 64)
    c.add("zip", buf.getvalue())

    # torch.distributed.checkpoint, single process: tensors, a bytes item, a nested dict.
    import torch.distributed.checkpoint as dcp
    with tempfile.TemporaryDirectory() as d:
        dcp.save({"w": torch.ones(4, 3), "b": torch.zeros(2, dtype=torch.bfloat16), "extra": io.BytesIO(b"abc"),
                  "nested": {"x": torch.arange(5)}}, checkpoint_id=d)
        data = Path(d, ".metadata").read_bytes()
        c.add("dcp-metadata", data)
        c.add("pickle", data)

    # CPython's pickler, every protocol.
    values = [{"a": [1, -2, 2**40, -2**70, 2.5, "x\u00e9", b"y", None, True, False, (1, 2, 3), (), {1, 2}, frozenset([3])]},
              OrderedDict([("k", bytearray(b"z"))]), [[]] * 3, "s" * 300, b"b" * 300, list(range(1100))]
    for v in values:
        for proto in range(6):
            c.add("pickle", pickle.dumps(v, protocol=proto))

    # Images: the fixtures' PNGs and JPEGs, and small ones in every layout the decoder expands.
    for suffix in (".png", ".jpg"):
        for p in files(roots, suffix):
            c.add("image", p.read_bytes())
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (9, 13, 3), dtype=np.uint8))
    variants = [(rgb, "PNG", {}), (rgb.convert("L"), "PNG", {}), (rgb.convert("RGBA"), "PNG", {}),
                (rgb.convert("LA"), "PNG", {}), (rgb.quantize(7), "PNG", {"transparency": 2}),
                (rgb.convert("1"), "PNG", {}), (rgb, "JPEG", {"quality": 80}), (rgb, "JPEG", {"progressive": True}),
                (rgb.convert("L"), "JPEG", {}), (rgb, "JPEG", {"subsampling": 0}), (rgb.convert("CMYK"), "JPEG", {})]
    for im, fmt, kw in variants:
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        c.add("image", buf.getvalue())

    # Tokenizers: small tokenizer.json files trained by Hugging Face `tokenizers` as the fixture's is (Qwen2's
    # NFC + split + ByteLevel, scripts/oracle/make_tokenizer_fixture.py) but with 260-300 tokens and a few
    # added tokens, so a seed is a few KB instead of 59; the fixture itself too. Texts: the fixture's cases.
    for p in files(roots, "tokenizer.json"):
        c.add("tokenizer-file", p.read_bytes())
    for small in tiny_tokenizers():
        c.add("tokenizer-file", small)
    cases = ROOT / "Fixtures" / "tokenizer" / "cases.json"
    if cases.is_file():
        for case in json.loads(cases.read_text())["encode"][:300]:
            if case["text"]:
                c.add("tokenizer-encode", case["text"].encode())

    for t, n in sorted(c.counts.items()):
        print(f"seeds: {t}: {n}")


if __name__ == "__main__":
    sys.exit(main())
