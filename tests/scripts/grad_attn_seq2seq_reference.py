#!/usr/bin/python3
"""Independent gradient x attention relevancy for encoder-decoder checkpoints (Chefer, Gur & Wolf 2021, the
encoder-decoder rules), written to tests/core/data/grad_attn_seq2seq_reference.json.

Float64 forwards of the whole T5, BART and Whisper models written here from their published semantics, sharing no
code with the C++ engine, each checked against the golden Hugging Face (or openai/whisper) logits:
- t5-tiny-random: pre-RMSNorm blocks without biases or score scaling; the encoder's and the decoder's relative
  position biases as Hugging Face computed them (the golden encoder_position_bias / decoder_position_bias), the
  decoder causal, cross-attention without a bias; ReLU feed-forward; the tied head rescaled by d_model^-0.5;
- bart-tiny-random: token embeddings scaled by sqrt(d_model) + learned positions offset by 2, layernorm_embedding;
  post-LN layers (self-attention, cross-attention, feed-forward, each followed by its LayerNorm), exact GELU; the
  tied head plus final_logits_bias;
- whisper-tiny-random: the encoder's two GELU convolutions and position table, pre-LN layers, final LayerNorms; the
  decoder's token + position embeddings, pre-LN self-attention, cross-attention and feed-forward; the tied head.
Every weight requires a gradient and every attention probability keeps its own (retain_grad). The target is the
logit of the predicted token at a decoder position t. Relevance (the paper's equations 6-11):
R_ss = I (encoder), R_tt = I (decoder), R_ts = 0; cam(A) = mean_h((dA * A).clamp(min=0));
per encoder layer R_ss += cam @ R_ss; per decoder layer, its self-attention R_tt += cam @ R_tt, R_ts += cam @ R_ts,
then its cross-attention R_ts += bar(R_tt).T @ cam @ bar(R_ss), with bar(R) = I + rows of (R - I) normalised to sum
1 (a row with nothing in it stays 0). Recorded: row t of R_ts (encoder positions) and of R_tt (decoder positions).
Run with Debian's torch: /usr/bin/python3 tests/scripts/grad_attn_seq2seq_reference.py GOLDEN_DIR >
tests/core/data/grad_attn_seq2seq_reference.json
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dla_reference import gelu_erf, layer_norm, read_safetensors  # noqa: E402


def attend(xq, xkv, W, b, heads, d, scale, bias=None, causal=False, probs=None):
    """Multi-head attention of queries from xq [Tq, E] over xkv [Tk, E] with the projections b + q/k/v/o (+ .bias
    where the checkpoint has one): the output [Tq, E]; appends the probabilities [heads, Tq, Tk] to probs."""
    def lin(x, name):
        y = x @ W[b + name + ".weight"].T
        return y + W[b + name + ".bias"] if b + name + ".bias" in W else y

    Tq, Tk = xq.shape[0], xkv.shape[0]
    q = lin(xq, "q").reshape(Tq, heads, d).transpose(0, 1)
    k = lin(xkv, "k").reshape(Tk, heads, d).transpose(0, 1)
    v = lin(xkv, "v").reshape(Tk, heads, d).transpose(0, 1)
    s = q @ k.transpose(1, 2) * scale
    if bias is not None:
        s = s + bias
    if causal:
        s = s.masked_fill(torch.triu(torch.ones(Tq, Tk, dtype=torch.bool), 1), float("-inf"))
    a = torch.softmax(s, -1)
    probs.append(a)
    return lin((a @ v).transpose(0, 1).reshape(Tq, heads * d), "o")


def attn(xq, xkv, W, b, names, heads, d, scale, probs, bias=None, causal=False):
    renamed = {f"{b}{n}.weight": W[f"{b}{names[n]}.weight"] for n in "qkvo"}
    renamed.update({f"{b}{n}.bias": W[f"{b}{names[n]}.bias"] for n in "qkvo" if f"{b}{names[n]}.bias" in W})
    return attend(xq, xkv, renamed, b, heads, d, scale, bias, causal, probs)


def t5(root, enc, dec):
    d = f"{root}/t5-tiny-random"
    cfg = json.load(open(f"{d}/config.json"))
    W, E = read_safetensors(f"{d}/model.safetensors"), read_safetensors(f"{d}/expected.safetensors")
    require_grad(W)
    heads, dk, eps = cfg["num_heads"], cfg["d_kv"], cfg["layer_norm_epsilon"]

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w

    def ffn(x, b):
        return torch.relu(x @ W[b + "DenseReluDense.wi.weight"].T) @ W[b + "DenseReluDense.wo.weight"].T

    sa = {"q": "SelfAttention.q", "k": "SelfAttention.k", "v": "SelfAttention.v", "o": "SelfAttention.o"}
    ca = {"q": "EncDecAttention.q", "k": "EncDecAttention.k", "v": "EncDecAttention.v", "o": "EncDecAttention.o"}
    x = W["shared.weight"][E["input_ids"].reshape(-1)]
    for l in range(cfg["num_layers"]):
        b = f"encoder.block.{l}.layer."
        x = x + attn(rms(x, W[b + "0.layer_norm.weight"]), rms(x, W[b + "0.layer_norm.weight"]), W, b + "0.", sa,
                     heads, dk, 1.0, enc, E["encoder_position_bias"])
        x = x + ffn(rms(x, W[b + "1.layer_norm.weight"]), b + "1.")
    memory = rms(x, W["encoder.final_layer_norm.weight"])
    y = W["shared.weight"][E["decoder_input_ids"].reshape(-1)]
    for l in range(cfg["num_decoder_layers"]):
        b = f"decoder.block.{l}.layer."
        z = rms(y, W[b + "0.layer_norm.weight"])
        y = y + attn(z, z, W, b + "0.", sa, heads, dk, 1.0, dec[0], E["decoder_position_bias"], causal=True)
        y = y + attn(rms(y, W[b + "1.layer_norm.weight"]), memory, W, b + "1.", ca, heads, dk, 1.0, dec[1])
        y = y + ffn(rms(y, W[b + "2.layer_norm.weight"]), b + "2.")
    y = rms(y, W["decoder.final_layer_norm.weight"]) * cfg["d_model"] ** -0.5
    return y @ W["shared.weight"].T, E


# BART and Whisper name their blocks alike: LayerNorms with eps 1e-5, fc1/GELU/fc2, self_attn and encoder_attn.
SELF = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.out_proj"}
CROSS = {"q": "encoder_attn.q_proj", "k": "encoder_attn.k_proj", "v": "encoder_attn.v_proj",
         "o": "encoder_attn.out_proj"}


def bart_style_blocks(W):
    def ln(x, name):
        return layer_norm(x, W[name + ".weight"], W[name + ".bias"], 1e-5)

    def ffn(x, b):
        return gelu_erf(x @ W[b + "fc1.weight"].T + W[b + "fc1.bias"]) @ W[b + "fc2.weight"].T + W[b + "fc2.bias"]

    return ln, ffn


def bart(root, enc, dec):
    d = f"{root}/bart-tiny-random"
    cfg = json.load(open(f"{d}/config.json"))
    W, E = read_safetensors(f"{d}/model.safetensors"), read_safetensors(f"{d}/expected.safetensors")
    require_grad(W)
    heads, D = cfg["encoder_attention_heads"], cfg["d_model"]
    dk, scale = D // heads, 1 / math.sqrt(D // heads)
    emb = math.sqrt(D) if cfg["scale_embedding"] else 1.0

    ln, ffn = bart_style_blocks(W)
    ids = E["input_ids"].reshape(-1)
    x = W["model.shared.weight"][ids] * emb + W["model.encoder.embed_positions.weight"][2:len(ids) + 2]
    x = ln(x, "model.encoder.layernorm_embedding")
    for l in range(cfg["encoder_layers"]):
        b = f"model.encoder.layers.{l}."
        x = ln(x + attn(x, x, W, b, SELF, heads, dk, scale, enc), b + "self_attn_layer_norm")
        x = ln(x + ffn(x, b), b + "final_layer_norm")
    memory = x
    dids = E["decoder_input_ids"].reshape(-1)
    y = W["model.shared.weight"][dids] * emb + W["model.decoder.embed_positions.weight"][2:len(dids) + 2]
    y = ln(y, "model.decoder.layernorm_embedding")
    for l in range(cfg["decoder_layers"]):
        b = f"model.decoder.layers.{l}."
        y = ln(y + attn(y, y, W, b, SELF, heads, dk, scale, dec[0], causal=True), b + "self_attn_layer_norm")
        y = ln(y + attn(y, memory, W, b, CROSS, heads, dk, scale, dec[1]), b + "encoder_attn_layer_norm")
        y = ln(y + ffn(y, b), b + "final_layer_norm")
    return y @ W["model.shared.weight"].T + W["final_logits_bias"].reshape(-1), E


def whisper(root, enc, dec):
    d = f"{root}/whisper-tiny-random"
    cfg = json.load(open(f"{d}/config.json"))
    W, E = read_safetensors(f"{d}/model.safetensors"), read_safetensors(f"{d}/expected.safetensors")
    require_grad(W)
    heads, D = cfg["encoder_attention_heads"], cfg["d_model"]
    dk, scale = D // heads, 1 / math.sqrt(D // heads)

    ln, ffn = bart_style_blocks(W)
    p = "model.encoder."
    x = torch.nn.functional.gelu(torch.nn.functional.conv1d(E["input_features"], W[p + "conv1.weight"],
                                                            W[p + "conv1.bias"], padding=1))
    x = torch.nn.functional.gelu(torch.nn.functional.conv1d(x, W[p + "conv2.weight"], W[p + "conv2.bias"], stride=2,
                                                            padding=1))
    x = x[0].T + W[p + "embed_positions.weight"][:x.shape[-1]]
    for l in range(cfg["encoder_layers"]):
        b = f"{p}layers.{l}."
        z = ln(x, b + "self_attn_layer_norm")
        x = x + attn(z, z, W, b, SELF, heads, dk, scale, enc)
        x = x + ffn(ln(x, b + "final_layer_norm"), b)
    memory = ln(x, p + "layer_norm")
    p = "model.decoder."
    dids = E["decoder_input_ids"].reshape(-1)
    y = W[p + "embed_tokens.weight"][dids] + W[p + "embed_positions.weight"][:len(dids)]
    for l in range(cfg["decoder_layers"]):
        b = f"{p}layers.{l}."
        z = ln(y, b + "self_attn_layer_norm")
        y = y + attn(z, z, W, b, SELF, heads, dk, scale, dec[0], causal=True)
        y = y + attn(ln(y, b + "encoder_attn_layer_norm"), memory, W, b, CROSS, heads, dk, scale, dec[1])
        y = y + ffn(ln(y, b + "final_layer_norm"), b)
    return ln(y, p + "layer_norm") @ W[p + "embed_tokens.weight"].T, E


def require_grad(W):
    for t in W.values():
        if t.is_floating_point():
            t.requires_grad_(True)


def cam(a):
    return (a.grad * a.detach()).clamp(min=0).mean(0)


def bar(R):
    eye = torch.eye(R.shape[0], dtype=torch.float64)
    off = R - eye
    sums = off.sum(-1, keepdim=True)
    return torch.where(sums > 0, off / torch.where(sums > 0, sums, torch.ones_like(sums)), torch.zeros_like(off)) + eye


def relevance(enc, self_probs, cross_probs):
    S, T = enc[0].shape[-1], self_probs[0].shape[-1]
    Rss = torch.eye(S, dtype=torch.float64)
    for a in enc:
        Rss = Rss + cam(a) @ Rss
    Rtt, Rts = torch.eye(T, dtype=torch.float64), torch.zeros(T, S, dtype=torch.float64)
    for a, c in zip(self_probs, cross_probs):
        Rtt, Rts = Rtt + cam(a) @ Rtt, Rts + cam(a) @ Rts
        Rts = Rts + bar(Rtt).T @ cam(c) @ bar(Rss)
    return Rts, Rtt


def case(root, name, forward):
    results = []
    probe_logits, E = forward(root, [], ([], []))
    T = probe_logits.shape[0]
    err = float((probe_logits.detach() - E["logits"].reshape(T, -1)).abs().max())
    assert err < 1e-4, f"{name}: this reference's logits differ from the golden ones by {err}"
    for pos in (T - 1, T // 2):
        enc, dec = [], ([], [])
        logits, _ = forward(root, enc, dec)
        for a in enc + dec[0] + dec[1]:
            a.retain_grad()
        t = int(logits[pos].argmax())
        logits[pos, t].backward()
        Rts, Rtt = relevance(enc, dec[0], dec[1])
        results.append({"position": pos, "target_id": t, "logit": float(logits[pos, t]),
                        "encoder_scores": Rts[pos].tolist(), "decoder_scores": Rtt[pos].tolist()})
    return results


def main():
    root = sys.argv[1]
    out = {name: case(root, name, forward) for name, forward in
           (("t5-tiny-random", t5), ("bart-tiny-random", bart), ("whisper-tiny-random", whisper))}
    json.dump(out, sys.stdout, indent=0)
    print()


if __name__ == "__main__":
    main()
