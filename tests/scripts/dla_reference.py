#!/usr/bin/python3
"""Independent direct-logit-attribution numbers for the golden decoder checkpoints (tests/core/data/dla_reference.json).

A float64 re-implementation of the GPT-2, Llama, Qwen2, Gemma and GPT-NeoX forwards written from the Hugging Face
modeling files' semantics; it reads only config.json, model.safetensors and the golden input ids (its own safetensors
reader), checks its logits against the golden expected logits, then splits the logit of the predicted token at two
positions into the embeddings, every head (its slice of the attention output through its rows of the output
projection, no bias), every MLP and the rest (output-projection biases, the final norm's bias through the
unembedding), with the final norm's scale frozen at the actual residual (TransformerLens' convention). It shares no
code with the C++ engine. Run with Debian's torch: /usr/bin/python3 tests/scripts/dla_reference.py GOLDEN_DIR >
tests/core/data/dla_reference.json
"""
import json
import math
import struct
import sys

import numpy as np
import torch

CASES = ["gpt2-tiny-random", "llama-gqa-random", "llama-stories260k", "qwen2-tiny-random", "gemma-tiny-random",
         "gpt_neox-tiny-random"]


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[base + a:base + b]
        dt = info["dtype"]
        if dt == "BF16":
            arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype={"F32": np.float32, "F16": np.float16, "I64": np.int64}[dt])
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).astype(np.float64 if dt != "I64" else np.int64))
    return out


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def rope(x, positions, theta, rot):
    """HF rotate_half RoPE on the first `rot` channels of x [heads, T, d]."""
    inv = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    ang = positions[:, None].double() * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)
    sin = torch.cat([ang.sin(), ang.sin()], -1)
    xr, xp = x[..., :rot], x[..., rot:]
    half = rot // 2
    rotated = torch.cat([-xr[..., half:], xr[..., :half]], -1)
    return torch.cat([xr * cos + rotated * sin, xp], -1)


def causal_attention(q, k, v, scale, tr=None):
    """q [H, T, d], k/v [H, T, d] -> per-head outputs [H, T, d]; records the probabilities and values in tr."""
    T = q.shape[1]
    s = q @ k.transpose(1, 2) * scale
    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    p = torch.softmax(s, -1)
    if tr is not None and getattr(tr, "zero", None) is not None and tr.zero[0] == len(tr.probs):
        v = v.clone()
        v[:, tr.zero[1]] = 0  # value zeroing: this key's values in every head of this layer
    if tr is not None:
        tr.probs.append(p)
        tr.values.append(v)
    return p @ v


class Trace:
    """What every part writes to the residual stream, and each layer's per-head writes (no bias)."""

    def __init__(self):
        self.embed = None
        self.heads = []  # per layer [H, T, hidden]
        self.attn_bias = []  # per layer [hidden] (or 0)
        self.mlp = []  # per layer [T, hidden]
        self.probs = []  # per layer [H, T, T]
        self.values = []  # per layer [H, T, d] (kv heads repeated)
        self.w_o = []  # per layer, nn.Linear layout [hidden, H*d]
        self.cross_heads = []  # encoder-decoder models: per decoder layer [H, T, hidden] of its cross-attention
        self.cross_bias = []  # per decoder layer [hidden]
        self.head = None  # (final residual [T, hidden], final norm, unembedding) when the forward records it
        self.resid_in = []  # per layer [T, hidden]: the residual entering it


def per_head_writes(ctx, w_o):
    """ctx [H, T, d]; w_o as nn.Linear weight [hidden, H*d] -> [H, T, hidden]."""
    H, T, d = ctx.shape
    return torch.stack([ctx[h] @ w_o[:, h * d:(h + 1) * d].T for h in range(H)])


def forward_gpt2(cfg, W, ids, tr):
    E, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    T, d = len(ids), cfg["n_embd"] // cfg["n_head"]
    p = "transformer." if "transformer.wte.weight" in W else ""
    h = W[p + "wte.weight"][ids] + W[p + "wpe.weight"][torch.arange(T)]
    tr.embed = h.clone()
    for l in range(cfg["n_layer"]):
        b = f"{p}h.{l}."
        tr.resid_in.append(h.clone())
        x = layer_norm(h, W[b + "ln_1.weight"], W[b + "ln_1.bias"], eps)
        qkv = x @ W[b + "attn.c_attn.weight"] + W[b + "attn.c_attn.bias"]  # Conv1D: [in, out]
        q, k, v = [qkv[:, i * E:(i + 1) * E].reshape(T, H, d).transpose(0, 1) for i in range(3)]
        ctx = causal_attention(q, k, v, 1.0 / math.sqrt(d), tr)
        tr.w_o.append(W[b + "attn.c_proj.weight"].T)
        heads = per_head_writes(ctx, W[b + "attn.c_proj.weight"].T)
        tr.heads.append(heads)
        tr.attn_bias.append(W[b + "attn.c_proj.bias"])
        h = h + heads.sum(0) + W[b + "attn.c_proj.bias"]
        y = layer_norm(h, W[b + "ln_2.weight"], W[b + "ln_2.bias"], eps)
        mlp = gelu_tanh(y @ W[b + "mlp.c_fc.weight"] + W[b + "mlp.c_fc.bias"]) @ W[b + "mlp.c_proj.weight"] + \
            W[b + "mlp.c_proj.bias"]
        tr.mlp.append(mlp)
        h = h + mlp
    unembed = W.get("lm_head.weight", W[p + "wte.weight"])
    return h, ("ln", W[p + "ln_f.weight"], W[p + "ln_f.bias"], eps), unembed


def forward_rotary(cfg, W, ids, tr, kind):
    hidden, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads", H)
    d = cfg.get("head_dim", hidden // H)
    eps, theta = cfg.get("rms_norm_eps", 1e-6), cfg.get("rope_theta", 10000.0)
    T = len(ids)
    pos = torch.arange(T)
    offset = 1.0 if kind == "gemma" else 0.0
    p = "model." if "model.embed_tokens.weight" in W else ""
    h = W[p + "embed_tokens.weight"][ids]
    if kind == "gemma":
        h = h * float(np.float32(math.sqrt(hidden)))
    tr.embed = h.clone()
    act = gelu_tanh if kind == "gemma" else (lambda t: t * torch.sigmoid(t))
    for l in range(L):
        b = f"{p}layers.{l}."
        tr.resid_in.append(h.clone())
        x = rms_norm(h, offset + W[b + "input_layernorm.weight"], eps)

        def proj(name, rows):
            y = x @ W[b + f"self_attn.{name}.weight"].T
            if b + f"self_attn.{name}.bias" in W:
                y = y + W[b + f"self_attn.{name}.bias"]
            return y.reshape(T, rows, d).transpose(0, 1)

        q = rope(proj("q_proj", H), pos, theta, d)
        k = rope(proj("k_proj", KV), pos, theta, d).repeat_interleave(H // KV, 0)
        v = proj("v_proj", KV).repeat_interleave(H // KV, 0)
        ctx = causal_attention(q, k, v, 1.0 / math.sqrt(d), tr)
        tr.w_o.append(W[b + "self_attn.o_proj.weight"])
        heads = per_head_writes(ctx, W[b + "self_attn.o_proj.weight"])
        tr.heads.append(heads)
        tr.attn_bias.append(torch.zeros(hidden, dtype=torch.float64))
        h = h + heads.sum(0)
        y = rms_norm(h, offset + W[b + "post_attention_layernorm.weight"], eps)
        mlp = (act(y @ W[b + "mlp.gate_proj.weight"].T) * (y @ W[b + "mlp.up_proj.weight"].T)) @ \
            W[b + "mlp.down_proj.weight"].T
        tr.mlp.append(mlp)
        h = h + mlp
    unembed = W["lm_head.weight"] if "lm_head.weight" in W else W[p + "embed_tokens.weight"]
    return h, ("rms", offset + W[p + "norm.weight"], None, eps), unembed


def forward_neox(cfg, W, ids, tr):
    hidden, L, H = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
    d = hidden // H
    eps = cfg["layer_norm_eps"]
    rot = int(d * cfg["rotary_pct"])
    T = len(ids)
    pos = torch.arange(T)
    p = "gpt_neox."
    h = W[p + "embed_in.weight"][ids]
    tr.embed = h.clone()
    for l in range(L):
        b = f"{p}layers.{l}."
        tr.resid_in.append(h.clone())
        x = layer_norm(h, W[b + "input_layernorm.weight"], W[b + "input_layernorm.bias"], eps)
        qkv = (x @ W[b + "attention.query_key_value.weight"].T + W[b + "attention.query_key_value.bias"])
        qkv = qkv.reshape(T, H, 3 * d).transpose(0, 1)  # per head: q | k | v
        q = rope(qkv[..., :d], pos, cfg["rotary_emb_base"], rot)
        k = rope(qkv[..., d:2 * d], pos, cfg["rotary_emb_base"], rot)
        ctx = causal_attention(q, k, qkv[..., 2 * d:], 1.0 / math.sqrt(d), tr)
        tr.w_o.append(W[b + "attention.dense.weight"])
        heads = per_head_writes(ctx, W[b + "attention.dense.weight"])
        tr.heads.append(heads)
        tr.attn_bias.append(W[b + "attention.dense.bias"])
        attn = heads.sum(0) + W[b + "attention.dense.bias"]
        src = h if cfg.get("use_parallel_residual", True) else h + attn
        y = layer_norm(src, W[b + "post_attention_layernorm.weight"], W[b + "post_attention_layernorm.bias"], eps)
        mlp = gelu_erf(y @ W[b + "mlp.dense_h_to_4h.weight"].T + W[b + "mlp.dense_h_to_4h.bias"]) @ \
            W[b + "mlp.dense_4h_to_h.weight"].T + W[b + "mlp.dense_4h_to_h.bias"]
        tr.mlp.append(mlp)
        h = h + attn + mlp
    return h, ("ln", W[p + "final_layer_norm.weight"], W[p + "final_layer_norm.bias"], eps), W["embed_out.weight"]


def load_case(root, case):
    """A golden case's config, weights (float64), expected tensors and input ids."""
    d = f"{root}/{case}"
    cfg = json.load(open(f"{d}/config.json"))
    expected = read_safetensors(f"{d}/expected.safetensors")
    return cfg, read_safetensors(f"{d}/model.safetensors"), expected, expected["input_ids"].reshape(-1)


def run_forward(cfg, W, ids, tr):
    """The forward of config.json's model_type: (final residual, final norm, unembedding)."""
    mt = cfg["model_type"]
    if mt == "gpt2":
        return forward_gpt2(cfg, W, ids, tr)
    if mt == "gpt_neox":
        return forward_neox(cfg, W, ids, tr)
    return forward_rotary(cfg, W, ids, tr, mt)


def attribute(tr, h, norm, unembed, pos):
    r = h[pos]
    kind, w, b, eps = norm
    u = unembed  # [V, E]
    if kind == "rms":
        scale = 1.0 / math.sqrt(float((r * r).mean()) + eps)
        logits = (r * scale * w) @ u.T

        def lin(x):
            return (x * scale * w) @ u.T

        const = torch.zeros(u.shape[0], dtype=torch.float64)
    else:
        sigma = math.sqrt(float(((r - r.mean()) ** 2).mean()) + eps)
        logits = ((r - r.mean()) / sigma * w + b) @ u.T

        def lin(x):
            return ((x - x.mean()) / sigma * w) @ u.T

        const = b @ u.T
    t = int(logits.argmax())
    parts = {"embed": float(lin(tr.embed[pos])[t])}
    bias = float(const[t])
    for l in range(len(tr.heads)):
        for hd in range(tr.heads[l].shape[0]):
            parts[f"L{l}H{hd}"] = float(lin(tr.heads[l][hd, pos])[t])
        bias += float(lin(tr.attn_bias[l])[t])
        if tr.cross_heads:
            for hd in range(tr.cross_heads[l].shape[0]):
                parts[f"L{l}.cross.H{hd}"] = float(lin(tr.cross_heads[l][hd, pos])[t])
            bias += float(lin(tr.cross_bias[l])[t])
        parts[f"L{l}.mlp"] = float(lin(tr.mlp[l][pos])[t])
    parts["bias"] = bias
    return {"position": pos, "target_id": t, "logit": float(logits[t]), "parts": parts}, logits


def main():
    root = sys.argv[1]
    out = {}
    for case in CASES:
        cfg, W, expected, ids = load_case(root, case)
        tr = Trace()
        h, norm, unembed = run_forward(cfg, W, ids, tr)
        T = len(ids)
        results = []
        for pos in (T - 1, T // 3):
            res, logits = attribute(tr, h, norm, unembed, pos)
            if pos == T - 1:  # self-check against the golden Hugging Face logits
                ref = expected["logits_last"] if "logits_last" in expected else expected["logits"][T - 1]
                err = float((logits - ref).abs().max())
                assert err < 1e-3, f"{case}: this reference's logits differ from the golden ones by {err}"
                res["golden_logits_error"] = err
            total = sum(res["parts"].values())
            assert abs(total - res["logit"]) < 1e-8 * max(1.0, abs(res["logit"])), (case, total, res["logit"])
            results.append(res)
        out[case] = results
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
