#!/usr/bin/python3
"""Capture benchmark driver: our engine (bench_capture) vs PyTorch eager
(reference_bert.py) on the same random BERT-base checkpoint, both processes kept
warm, runs alternated (ours, theirs, ours, ...) so machine noise hits both
alike. Prints the median of each and the median ratio ours/PyTorch per length.
Usage: capture_bench.py BENCH_BINARY MODEL_DIR [--lengths 128,512] [--repeats 15]"""
import argparse
import os
import statistics
import subprocess
import sys


def start(cmd):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    ready = p.stdout.readline().strip()
    if not ready.startswith("ready"):
        sys.exit(f"{cmd[0]} did not start: {ready}")
    return p, ready


def ask(p, T):
    p.stdin.write(f"{T}\n")
    p.stdin.flush()
    return float(p.stdout.readline())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("model")
    ap.add_argument("--lengths", default="128,512")
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    ours, _ = start([a.binary, a.model])
    ref, info = start(["/usr/bin/python3", os.path.join(here, "reference_bert.py"), a.model])
    print(f"PyTorch reference: {info}")
    print(f"{'T':>6} {'ours ms':>10} {'pytorch ms':>11} {'ratio':>7}")
    for T in [int(x) for x in a.lengths.split(",")]:
        for _ in range(2):  # warm-up
            ask(ours, T)
            ask(ref, T)
        o, r, ratios = [], [], []
        for _ in range(a.repeats):
            x, y = ask(ours, T), ask(ref, T)
            o.append(x)
            r.append(y)
            ratios.append(x / y)
        print(f"{T:>6} {statistics.median(o):>10.1f} {statistics.median(r):>11.1f} {statistics.median(ratios):>7.3f}")
    for p in (ours, ref):
        p.stdin.close()
        p.wait()


if __name__ == "__main__":
    main()
