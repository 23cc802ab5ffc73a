"""The hostile-input catalogue's machinery: fixtures, mutations, sandboxed runs and disk snapshots.

Cases are data (`cases/*.json`, format in README.md); `test_hostile.py` runs each against the release CLI.
Only the standard library is used, so the catalogue runs wherever pytest does.
"""
import hashlib
import json
import os
import resource
import shutil
import stat
import struct
import subprocess
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(ROOT, "Fixtures")
CLI = os.path.abspath(os.environ.get("CKPT_BRIDGE", os.path.join(ROOT, ".build", "release", "ckpt-bridge")))

# Bounds for every run: address space and CPU seconds (setrlimit in the child), and a wall-clock stop so
# a hang (e.g. a blocking open) fails the case instead of the suite.
ADDRESS_SPACE_BYTES = int(float(os.environ.get("HOSTILE_AS_GIB", "4")) * (1 << 30))
CPU_SECONDS = int(os.environ.get("HOSTILE_CPU_S", "30"))
WALL_SECONDS = 60


def load_cases():
    """Every case of every `cases/*.json` file, each tagged with the file it came from."""
    cases = []
    for name in sorted(os.listdir(os.path.join(HERE, "cases"))):
        if name.endswith(".json"):
            with open(os.path.join(HERE, "cases", name)) as f:
                for c in json.load(f)["cases"]:
                    c["source"] = name
                    cases.append(c)
    return cases


# ---------------------------------------------------------------------------------------------- fixtures

def run_cli(args, check=True):
    p = subprocess.run([CLI, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"fixture step `ckpt-bridge {' '.join(args)}` failed ({p.returncode}): {p.stderr}")
    return p


def build_fixture(kind, cache):
    """A base input of `kind`, built once per session under `cache`; returns its path."""
    path = os.path.join(cache, kind)
    if os.path.exists(path):
        return path
    if kind == "hf_moe":
        shutil.copytree(os.path.join(FIXTURES, "qwen3_vl_moe_tiny", "hf"), path)
    elif kind == "hf_dense":
        shutil.copytree(os.path.join(FIXTURES, "qwen3_vl_dense_tiny", "hf"), path)
    elif kind == "mg_moe_integrity":
        run_cli(["import", build_fixture("hf_moe", cache), path, "--quiet"])
    elif kind == "mg_moe":
        # As Megatron-Bridge saves by default: no integrity.json, so a damaged byte reaches the parser and the
        # zip CRC checks these cases are about (the manifest's own cases use mg_moe_integrity).
        shutil.copytree(build_fixture("mg_moe_integrity", cache), path)
        os.remove(os.path.join(path, "release", "integrity.json"))
    elif kind == "mg_moe_legacy":
        run_cli(["import", build_fixture("hf_moe", cache), path, "--format", "legacy", "--quiet"])
    elif kind == "mg_moe_yaml":
        # A Megatron-Bridge-style checkpoint: no embedded hf_config/, so run_config.yaml is what is read.
        shutil.copytree(build_fixture("mg_moe", cache), path)
        shutil.rmtree(os.path.join(path, "release", "hf_config"))
    elif kind == "mg_fsdp":
        # Megatron FSDP's fsdp_dtensor: a bare DCP save, no metadata.json / common.pt.
        run_cli(["import", build_fixture("hf_moe", cache), path, "--format", "fsdp_dtensor", "--vision-layout", "hf", "--quiet"])
    elif kind == "empty":
        os.makedirs(path)
    else:
        raise ValueError(f"unknown fixture kind {kind!r}")
    return path


# --------------------------------------------------------------------------------------------- mutations

def _walk(obj, dotted):
    keys = dotted.split(".")
    for k in keys[:-1]:
        obj = obj[int(k)] if isinstance(obj, list) else obj[k]
    last = keys[-1]
    return obj, (int(last) if isinstance(obj, list) else last)


def _json_edit(path, fn):
    with open(path) as f:
        doc = json.load(f)
    fn(doc)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)


def _offset(size, off):
    return off if off >= 0 else size + off


def _zip_entries(data):
    """(name, payload start, payload size) of every local file header in a byte string (zip or a
    `.distcp`, which is torch.save zips back to back)."""
    out, i = [], 0
    while True:
        i = data.find(b"PK\x03\x04", i)
        if i < 0 or i + 30 > len(data):
            return out
        csize, _, nlen, xlen = struct.unpack_from("<IIHH", data, i + 18)
        name = data[i + 30:i + 30 + nlen].decode("utf-8", "replace")
        start = i + 30 + nlen + xlen
        out.append((name, start, csize))
        i = start + max(csize, 0)


def _safetensors(header, data_len=0, length_override=None):
    h = header.encode("utf-8")
    n = len(h) if length_override is None else length_override
    return struct.pack("<Q", n) + h + b"\0" * data_len


def apply_mutation(case_dir, m):
    """Applies one mutation (a dict with `op`); paths are relative to the case folder."""
    op = m["op"]
    p = os.path.join(case_dir, m.get("file") or m.get("path") or "")
    if op == "json_set":
        def setter(doc):
            o, k = _walk(doc, m["key"])
            o[k] = m["value"]
        _json_edit(p, setter)
    elif op == "json_delete":
        def deleter(doc):
            o, k = _walk(doc, m["key"])
            del o[k]
        _json_edit(p, deleter)
    elif op == "write_text":
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(m["text"])
    elif op == "append_text":
        with open(p, "a") as f:
            f.write(m["text"])
    elif op == "replace_text":
        with open(p) as f:
            t = f.read()
        assert m["old"] in t, f"{m['old']!r} not in {p}"
        with open(p, "w") as f:
            f.write(t.replace(m["old"], m["new"]))
    elif op == "repeat_text":
        with open(p, "w") as f:
            f.write(m.get("prefix", "") + m["unit"] * m["count"] + m.get("suffix", ""))
    elif op == "write_hex":
        with open(p, "wb") as f:
            f.write(bytes.fromhex(m["hex"]))
    elif op == "safetensors":
        with open(p, "wb") as f:
            f.write(_safetensors(m["header"], m.get("data_len", 0), m.get("length_override")))
    elif op == "patch_hex":
        with open(p, "r+b") as f:
            f.seek(_offset(os.path.getsize(p), m["offset"]))
            f.write(bytes.fromhex(m["hex"]))
    elif op == "flip_byte":
        with open(p, "r+b") as f:
            off = _offset(os.path.getsize(p), m["offset"])
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ 0xFF]))
    elif op == "flip_zip_payload":
        # Flips one byte inside the payload of the `index`-th zip entry whose name ends with `entry`.
        with open(p, "rb") as f:
            data = bytearray(f.read())
        hits = [e for e in _zip_entries(bytes(data)) if e[0].endswith(m["entry"]) and e[2] > 0]
        name, start, size = hits[m.get("index", 0)]
        data[start + min(m.get("at", 0), size - 1)] ^= 0xFF
        with open(p, "wb") as f:
            f.write(data)
    elif op == "write_zip":
        # A STORED zip with the given entries (name -> hex bytes), like a torch.save archive.
        with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
            for name, hexdata in m["entries"].items():
                z.writestr(name, bytes.fromhex(hexdata))
    elif op == "truncate":
        os.truncate(p, _offset(os.path.getsize(p), m["size"]))
    elif op == "sparse_file":
        with open(p, "wb") as f:
            f.truncate(m["size"])
    elif op == "remove":
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.remove(p)
    elif op == "mkfifo":
        if os.path.lexists(p):
            os.remove(p)
        os.mkfifo(p)
    elif op == "symlink":
        if os.path.lexists(p):
            os.remove(p)
        os.symlink(m["target"], p)
    elif op == "mkdir":
        os.makedirs(p, exist_ok=True)
    else:
        raise ValueError(f"unknown mutation op {op!r}")


# ------------------------------------------------------------------------------------- runs and snapshots

def snapshot(root):
    """Every entry under `root`: kind, size, mtime and (for regular files) the SHA-256 of the bytes.
    FIFOs and other special files are recorded without being opened."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                out[rel] = ("file", st.st_size, st.st_mtime_ns, h.hexdigest())
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)  # a folder's own mtime moves when a temp entry comes and goes
            else:
                out[rel] = ("special", stat.S_IFMT(st.st_mode))
    return out


def _limit():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_bounded(args, cwd, timeout):
    """Runs the CLI under the memory and CPU limits; returns (exit status, stdout, stderr). A run stopped
    by the wall clock reports status None."""
    try:
        p = subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True, errors="replace",
                           preexec_fn=_limit, timeout=timeout, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        text = lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")
        return None, text(e.stdout), text(e.stderr)
