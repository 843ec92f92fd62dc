#!/usr/bin/env python3
"""Pillow reference for the resampler test (tests/core/data/pillow_resize.json).

Deterministic pseudo-random RGB images of several sizes are resized with Debian's python3-pil (Pillow 9.4) with every
filter, up and down, to sizes whose ratios are not integers; the JSON keeps each input's generator parameters and the
FNV-1a 64-bit hash plus a few sample pixels of every output. Run: /usr/bin/python3 tests/scripts/pillow_reference.py
"""
import json
import os

from PIL import Image


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def make(width, height, seed):
    # The same generator is written in the C++ test: an LCG over bytes.
    state = seed
    data = bytearray()
    for _ in range(width * height * 3):
        state = (state * 1103515245 + 12345) % (1 << 31)
        data.append((state >> 16) & 0xFF)
    return Image.frombytes("RGB", (width, height), bytes(data))


def main():
    cases = []
    sizes = [((48, 40), (32, 32)), ((150, 97), (55, 36)), ((123, 90), (43, 32)), ((17, 23), (40, 51)),
             ((64, 64), (29, 100)), ((1, 1), (7, 5)), ((300, 7), (11, 3)), ((33, 44), (33, 20))]
    for (w, h), (ow, oh) in sizes:
        seed = w * 1000 + h
        img = make(w, h, seed)
        for code in range(6):
            out = img.resize((ow, oh), resample=code, reducing_gap=None)
            raw = out.tobytes()
            cases.append({"width": w, "height": h, "seed": seed, "out_width": ow, "out_height": oh, "filter": code,
                          "fnv1a64": fnv1a(raw), "first": list(raw[:12]), "last": list(raw[-6:])})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core", "data", "pillow_resize.json")
    with open(path, "w") as f:
        json.dump({"generator": "tests/scripts/pillow_reference.py", "pillow": Image.__version__ if hasattr(Image, "__version__") else "9.4",
                   "cases": cases}, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
