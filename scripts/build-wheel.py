#!/usr/bin/env python3
"""Builds the ckpt_bridge wheel (dist/ckpt_bridge-VERSION-py3-none-linux_x86_64.whl) with the standard library
only: the Python package (python/ckpt_bridge), the C ABI library and the CLI of one release build, and every
shared library they need that a plain Linux machine may lack. The library and the CLI lose their debug info
(strip --strip-debug) on the way in.

What gets bundled, from `ldd` of the library and the CLI: everything outside glibc and the C/C++ runtime
(libc, libm, libpthread, libdl, librt, ld-linux, libstdc++, libgcc_s) — the Swift runtime and Foundation
from the toolchain folder, and OpenBLAS, xxHash and zstd. Each bundled ELF gets RUNPATH $ORIGIN (patchelf),
so it finds its neighbours in ckpt_bridge/_native/ and nothing in the toolchain folder.

    scripts/build-wheel.py [--build .build/release] [--dist dist]
"""
import argparse
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME, VERSION = "ckpt_bridge", "0.1.0"
TAG = "py3-none-linux_x86_64"
# What every Linux machine with glibc has: never bundled.
SYSTEM = re.compile(r"^(libc|libm|libpthread|libdl|librt|libutil|libresolv|ld-linux[-\w]*|libstdc\+\+|libgcc_s|linux-vdso)\.so")


def ldd(path):
    """{soname: resolved path} of what `path` loads; fails on anything not found."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    deps = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
        if m:
            if m.group(2) == "not":
                sys.exit(f"build-wheel: {path} needs {m.group(1)}, which is not found")
            deps[m.group(1)] = m.group(2)
    return deps


def patch_rpath(path):
    subprocess.run(["patchelf", "--set-rpath", "$ORIGIN", path], check=True)


def record_line(arc, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arc},sha256={digest},{len(data)}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--dist", default=os.path.join(ROOT, "dist"))
    args = ap.parse_args()
    if not shutil.which("patchelf"):
        sys.exit("build-wheel: patchelf is needed (Debian: apt-get install patchelf; `make wheel` installs it)")
    library, cli = os.path.join(args.build, "libCheckpointBridgeC.so"), os.path.join(args.build, "ckpt-bridge")
    for f in (library, cli):
        if not os.path.isfile(f):
            sys.exit(f"build-wheel: {f} is missing; run `swift build -c release` first")

    with tempfile.TemporaryDirectory() as stage:
        native = os.path.join(stage, "_native")
        os.makedirs(native)
        bundled = {}
        for f in (library, cli):
            for soname, path in ldd(f).items():
                if not SYSTEM.match(soname):
                    bundled[soname] = os.path.realpath(path)
        for soname, path in sorted(bundled.items()):
            shutil.copyfile(path, os.path.join(native, soname))
        shutil.copyfile(library, os.path.join(native, "libCheckpointBridgeC.so"))
        shutil.copyfile(cli, os.path.join(native, "ckpt-bridge"))
        if shutil.which("strip"):  # the release build keeps DWARF; the wheel does not need it (12 MB → 4.5 MB)
            for f in ("libCheckpointBridgeC.so", "ckpt-bridge"):
                subprocess.run(["strip", "--strip-debug", os.path.join(native, f)], check=True)
        for f in os.listdir(native):
            os.chmod(os.path.join(native, f), 0o755)
            patch_rpath(os.path.join(native, f))
        # Everything resolves inside the bundle now: check it before packing.
        for f in ("libCheckpointBridgeC.so", "ckpt-bridge"):
            for soname, path in ldd(os.path.join(native, f)).items():
                if not SYSTEM.match(soname) and os.path.dirname(os.path.realpath(path)) != os.path.realpath(native):
                    sys.exit(f"build-wheel: {f} still loads {soname} from {path}")

        files = []  # (archive name, bytes, executable)
        pkg = os.path.join(ROOT, "python", NAME)
        for f in sorted(os.listdir(pkg)):
            if f.endswith(".py"):
                files.append((f"{NAME}/{f}", open(os.path.join(pkg, f), "rb").read(), False))
        for f in sorted(os.listdir(native)):
            files.append((f"{NAME}/_native/{f}", open(os.path.join(native, f), "rb").read(), True))
        header = os.path.join(ROOT, "Sources", "CheckpointBridgeC", "include", "ckpt_bridge.h")
        files.append((f"{NAME}/_native/include/ckpt_bridge.h", open(header, "rb").read(), False))

        info = f"{NAME}-{VERSION}.dist-info"
        readme = ("ckpt_bridge converts Qwen3-VL checkpoints between Hugging Face safetensors and Megatron-Core, "
                  "torch-free, over the C ABI of CheckpointBridge. See Docs/python.md.\n")
        files.append((f"{info}/METADATA", (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
                                           "Summary: Torch-free Qwen3-VL checkpoint conversion between HF safetensors and Megatron-Core\n"
                                           "Requires-Python: >=3.8\nProvides-Extra: numpy\nRequires-Dist: numpy; extra == \"numpy\"\n"
                                           "Description-Content-Type: text/plain\n\n" + readme).encode(), False))
        files.append((f"{info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: ckpt-bridge build-wheel.py\nRoot-Is-Purelib: false\n"
                                        f"Tag: {TAG}\n").encode(), False))
        files.append((f"{info}/entry_points.txt", b"[console_scripts]\nckpt-bridge = ckpt_bridge.cli:main\n", False))
        files.append((f"{info}/top_level.txt", f"{NAME}\n".encode(), False))
        record = "\n".join(record_line(a, d) for a, d, _ in files) + f"\n{info}/RECORD,,\n"
        files.append((f"{info}/RECORD", record.encode(), False))

        os.makedirs(args.dist, exist_ok=True)
        wheel = os.path.join(args.dist, f"{NAME}-{VERSION}-{TAG}.whl")
        tmp = wheel + ".tmp"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for arc, data, exe in files:
                zi = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
                zi.external_attr = ((0o755 if exe else 0o644) | 0o100000) << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(zi, data)
        os.replace(tmp, wheel)
        print(f"{wheel}: {os.path.getsize(wheel) / 1e6:.1f} MB, bundling {', '.join(sorted(bundled))}")


if __name__ == "__main__":
    main()
