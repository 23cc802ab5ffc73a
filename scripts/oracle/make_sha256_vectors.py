"""SHA-256 test vectors from Python's hashlib, for TensorCoreTests/SHA256Tests.

Each message is generated, not stored: message(n)[i] = (i * 131 + n * 7 + (i >> 8)) % 256, the same rule the
Swift test uses to rebuild it. Lengths cover every remainder around the 55/56/64-byte padding edges, a few
multi-block lengths and two large ones (the SHA-extension path runs many blocks in one call).

    .venv/bin/python scripts/oracle/make_sha256_vectors.py > Fixtures/sha256/vectors.json
"""
import hashlib
import json


def message(n: int) -> bytes:
    return bytes((i * 131 + n * 7 + (i >> 8)) % 256 for i in range(n))


lengths = list(range(0, 200)) + [255, 256, 257, 1000, 4095, 4096, 4097, 65539, (1 << 20) + 17]
print(json.dumps({"rule": "(i * 131 + n * 7 + (i >> 8)) % 256",
                  "vectors": [{"length": n, "sha256": hashlib.sha256(message(n)).hexdigest()} for n in lengths]},
                 indent=1))
