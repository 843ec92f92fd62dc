#!/usr/bin/env python3
"""Independent reference numbers for the rope_scaling types (tests/core/data/rope_reference.json).

Written from the formulas (RoPE; Position Interpolation; dynamic NTK; Llama 3.1's wavelength bands; YaRN's
ramp and attention factor; LongRoPE's per-frequency factors), in float64 with the standard library only, so that
it shares no code with the C++ engine. Run: python3 tests/scripts/rope_reference.py > tests/core/data/rope_reference.json
"""
import json
import math


def plain(theta, dim):
    return [theta ** (-(2.0 * i) / dim) for i in range(dim // 2)]


def linear(theta, dim, factor):
    return [f / factor for f in plain(theta, dim)]


def dynamic(theta, dim, factor, max_pos, seq_len):
    n = max(seq_len, max_pos)
    scaled = theta * ((factor * n / max_pos) - (factor - 1.0)) ** (dim / (dim - 2.0))
    return plain(scaled, dim)


def llama3(theta, dim, factor, low, high, old_ctx):
    out = []
    for f in plain(theta, dim):
        wavelength = 2.0 * math.pi / f
        if wavelength < old_ctx / high:  # high frequencies: unchanged
            out.append(f)
        elif wavelength > old_ctx / low:  # low frequencies: interpolated
            out.append(f / factor)
        else:  # in between: blend by how many rotations fit the old context
            s = (old_ctx / wavelength - low) / (high - low)
            out.append((1.0 - s) * f / factor + s * f)
    return out


def yarn(theta, dim, factor, original, beta_fast=32.0, beta_slow=1.0, mscale=None, mscale_all_dim=None):
    def dim_for(rotations):  # the channel whose wavelength fits `rotations` turns into the original context
        return dim * math.log(original / (rotations * 2.0 * math.pi)) / (2.0 * math.log(theta))

    lo = max(math.floor(dim_for(beta_fast)), 0)
    hi = min(math.ceil(dim_for(beta_slow)), dim - 1)
    if lo == hi:
        hi += 0.001
    out = []
    for i, f in enumerate(plain(theta, dim)):
        ramp = min(max((i - lo) / (hi - lo), 0.0), 1.0)  # 0: keep (extrapolate), 1: interpolate
        out.append(f * (1.0 - ramp) + (f / factor) * ramp)

    def m(scale, k=1.0):
        return 1.0 if scale <= 1 else 0.1 * k * math.log(scale) + 1.0

    if mscale and mscale_all_dim:
        att = m(factor, mscale) / m(factor, mscale_all_dim)
    else:
        att = m(factor)
    return out, att


def longrope(theta, dim, short, long_, original, max_pos, seq_len):
    ext = long_ if seq_len > original else short
    scale = max_pos / original
    att = 1.0 if scale <= 1 else math.sqrt(1.0 + math.log(scale) / math.log(original))
    return [f / e for f, e in zip(plain(theta, dim), ext)], att


def main():
    cases = []

    def add(name, config, head_dim, rotary_dim, seq_len, inv, att=1.0):
        base = {"hidden_size": head_dim * 4, "num_attention_heads": 4, "max_position_embeddings": 2048}
        base.update(config)
        cases.append({"name": name, "config": base, "head_dim": head_dim, "rotary_dim": rotary_dim,
                      "seq_len": seq_len, "inv_freq": inv, "attention_factor": att})

    add("default", {"rope_theta": 10000.0}, 8, 8, 10, plain(10000.0, 8))
    add("default_partial", {"rope_theta": 10000.0}, 32, 8, 10, plain(10000.0, 8))
    add("linear", {"rope_theta": 10000.0, "rope_scaling": {"type": "linear", "factor": 4.0}}, 16, 16, 10,
        linear(10000.0, 16, 4.0))
    dyn = {"rope_theta": 10000.0, "max_position_embeddings": 64, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}
    add("dynamic_short", dyn, 16, 16, 50, dynamic(10000.0, 16, 2.0, 64, 50))
    add("dynamic_long", dyn, 16, 16, 100, dynamic(10000.0, 16, 2.0, 64, 100))
    l3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 8192}
    add("llama3", {"rope_theta": 500000.0, "max_position_embeddings": 131072, "rope_scaling": l3}, 128, 128, 10,
        llama3(500000.0, 128, 8.0, 1.0, 4.0, 8192.0))
    inv, att = yarn(1000000.0, 64, 4.0, 32768.0)
    add("yarn", {"rope_theta": 1000000.0, "max_position_embeddings": 32768,
                 "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}},
        64, 64, 10, inv, att)
    inv, att = yarn(10000.0, 64, 40.0, 4096.0, beta_fast=32.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=0.5)
    add("yarn_mscale", {"rope_theta": 10000.0, "max_position_embeddings": 163840,
                        "rope_scaling": {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                                         "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.5}},
        64, 64, 10, inv, att)
    short = [1.0 + 0.05 * i for i in range(16)]
    long_ = [1.0 + 0.75 * i for i in range(16)]
    lr = {"rope_theta": 10000.0, "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
          "rope_scaling": {"type": "longrope", "short_factor": short, "long_factor": long_}}
    for n in (100, 5000):
        inv, att = longrope(10000.0, 32, short, long_, 4096.0, 131072.0, n)
        add("longrope_%d" % n, lr, 32, 32, n, inv, att)
    print(json.dumps({"generator": "tests/scripts/rope_reference.py", "cases": cases}, indent=1))


if __name__ == "__main__":
    main()
