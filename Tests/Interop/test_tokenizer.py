"""`ckpt-bridge tokenize` against Hugging Face tokenizers itself, on strings generated afresh (seed 11, not
the fixture's) by scripts/oracle/tokenizer_strings.py, with the byte-level BPE that tokenizers trained
(Fixtures/tokenizer/tokenizer.json): encode ids and decode text must be equal, string by string."""
import json
import os
import sys

from tokenizers import Tokenizer

from conftest import ROOT, cli, fixture

sys.path.insert(0, os.path.join(ROOT, "scripts", "oracle"))
import tokenizer_strings as ts  # noqa: E402

COUNT = 2000
BATCH = 250


def test_encode_equals_tokenizers():
    folder = fixture("tokenizer")
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    # argv cannot carry NUL; the fixture's cases (TokenizerOracleTests) cover it.
    texts = [s.replace("\x00", "\x01") for s in ts.strings(11, COUNT)]
    texts = [t for t in texts if t]
    mismatches = []
    for i in range(0, len(texts), BATCH):
        batch = texts[i:i + BATCH]
        got = json.loads(cli("tokenize", folder, "--json", "--", *batch).stdout)["results"]
        assert len(got) == len(batch)
        for text, g in zip(batch, got):
            if g["ids"] != tok.encode(text).ids:
                mismatches.append(text)
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, first: {mismatches[0]!r}"


def test_decode_equals_tokenizers():
    folder = fixture("tokenizer")
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    for ids in ts.id_lists(12, 25, tok.get_vocab_size()):
        for skip in (False, True):
            got = json.loads(cli("tokenize", folder, "--decode", "--json", *(["--skip-special-tokens"] if skip else []), *ids).stdout)
            assert got["text"] == tok.decode(ids, skip_special_tokens=skip), ids


def test_bad_tokenizer_is_refused(out):
    folder = fixture("tokenizer")
    d = json.load(open(os.path.join(folder, "tokenizer.json"), encoding="utf-8"))
    d["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\s+|\S+"
    (out / "tokenizer.json").write_text(json.dumps(d), encoding="utf-8")
    p = cli("tokenize", out, "hello", check=False)
    assert p.returncode == 2 and "pre-tokenizer" in p.stderr and "tokenizer.json" in p.stderr
    p = cli("tokenize", folder, "--decode", "5", str(tok_count(folder)), check=False)
    assert p.returncode == 2 and "not in the vocabulary" in p.stderr


def tok_count(folder):
    return Tokenizer.from_file(os.path.join(folder, "tokenizer.json")).get_vocab_size()
