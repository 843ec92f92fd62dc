#!/usr/bin/python3
"""Float64 reference forwards of whole encoder-decoder checkpoints, written from their published semantics and
sharing no code with the C++ engine; used by grad_attn_seq2seq_reference.py and dla_seq2seq_reference.py, which
check them against the golden Hugging Face (or openai/whisper) logits:
- t5-tiny-random: pre-RMSNorm blocks without biases or score scaling; the encoder's and the decoder's relative
  position biases as Hugging Face computed them (the golden encoder_position_bias / decoder_position_bias), the
  decoder causal, cross-attention without a bias; ReLU feed-forward; the tied head rescaled by d_model^-0.5;
- bart-tiny-random: token embeddings scaled by sqrt(d_model) + learned positions offset by 2, layernorm_embedding;
  post-LN layers (self-attention, cross-attention, feed-forward, each followed by its LayerNorm), exact GELU; the
  tied head plus final_logits_bias;
- whisper-tiny-random: the encoder's two GELU convolutions and position table, pre-LN layers, final LayerNorms; the
  decoder's token + position embeddings, pre-LN self-attention, cross-attention and feed-forward; the tied head.
Every weight requires a gradient. Each forward(root, enc, dec, trace=None) appends the encoder's attention
probabilities to enc and the decoder's self- and cross-attention probabilities to dec[0] and dec[1], and returns
(logits [T, V], the golden expected tensors). The pre-norm decoders (T5, Whisper) also fill a dla_reference.Trace
when one is given: what the embeddings, every self- and cross-attention head (no bias), the output biases and every
feed-forward write to the decoder's residual stream, the final residual and the head (norm, unembedding).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dla_reference import gelu_erf, layer_norm, per_head_writes, read_safetensors  # noqa: E402


def attend(xq, xkv, W, b, heads, d, scale, bias=None, causal=False, probs=None, writes=None):
    """Multi-head attention of queries from xq [Tq, E] over xkv [Tk, E] with the projections b + q/k/v/o (+ .bias
    where the checkpoint has one): the output [Tq, E]; appends the probabilities [heads, Tq, Tk] to probs, and to
    writes (when given) each head's write (its output through its columns of o, no bias) [heads, Tq, E] and o's
    bias [E]."""
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
    if writes is not None:
        o_bias = W.get(b + "o.bias", torch.zeros(xq.shape[1], dtype=torch.float64))
        writes.append((per_head_writes(a @ v, W[b + "o.weight"]), o_bias))
    return lin((a @ v).transpose(0, 1).reshape(Tq, heads * d), "o")


def attn(xq, xkv, W, b, names, heads, d, scale, probs, bias=None, causal=False, writes=None):
    renamed = {f"{b}{n}.weight": W[f"{b}{names[n]}.weight"] for n in "qkvo"}
    renamed.update({f"{b}{n}.bias": W[f"{b}{names[n]}.bias"] for n in "qkvo" if f"{b}{names[n]}.bias" in W})
    return attend(xq, xkv, renamed, b, heads, d, scale, bias, causal, probs, writes)


class _Into:
    """Appends each (per-head writes, output bias) pair that attend() records to two lists of a Trace."""

    def __init__(self, heads, biases):
        self.heads, self.biases = heads, biases

    def append(self, pair):
        self.heads.append(pair[0])
        self.biases.append(pair[1])


def writes_of(trace, cross):
    if trace is None:
        return None
    return _Into(trace.cross_heads, trace.cross_bias) if cross else _Into(trace.heads, trace.attn_bias)


def traced(trace, name, value):
    """Records value as trace.name (a list field: appended), returns value."""
    if trace is not None:
        field = getattr(trace, name)
        if isinstance(field, list):
            field.append(value)
        else:
            setattr(trace, name, value)
    return value


def t5(root, enc, dec, trace=None):
    cfg, W, E = weights(root, "t5-tiny-random")
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
    y = traced(trace, "embed", W["shared.weight"][E["decoder_input_ids"].reshape(-1)])
    for l in range(cfg["num_decoder_layers"]):
        b = f"decoder.block.{l}.layer."
        z = rms(y, W[b + "0.layer_norm.weight"])
        y = y + attn(z, z, W, b + "0.", sa, heads, dk, 1.0, dec[0], E["decoder_position_bias"], causal=True,
                     writes=writes_of(trace, False))
        y = y + attn(rms(y, W[b + "1.layer_norm.weight"]), memory, W, b + "1.", ca, heads, dk, 1.0, dec[1],
                     writes=writes_of(trace, True))
        y = y + traced(trace, "mlp", ffn(rms(y, W[b + "2.layer_norm.weight"]), b + "2."))
    scaled = W["decoder.final_layer_norm.weight"] * cfg["d_model"] ** -0.5  # the tied head's rescaling
    traced(trace, "head", (y, ("rms", scaled, None, eps), W["shared.weight"]))
    y = rms(y, scaled)
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
    cfg, W, E = weights(root, "bart-tiny-random")
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


def whisper(root, enc, dec, trace=None):
    cfg, W, E = weights(root, "whisper-tiny-random")
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
    y = traced(trace, "embed", W[p + "embed_tokens.weight"][dids] + W[p + "embed_positions.weight"][:len(dids)])
    for l in range(cfg["decoder_layers"]):
        b = f"{p}layers.{l}."
        z = ln(y, b + "self_attn_layer_norm")
        y = y + attn(z, z, W, b, SELF, heads, dk, scale, dec[0], causal=True, writes=writes_of(trace, False))
        y = y + attn(ln(y, b + "encoder_attn_layer_norm"), memory, W, b, CROSS, heads, dk, scale, dec[1],
                     writes=writes_of(trace, True))
        y = y + traced(trace, "mlp", ffn(ln(y, b + "final_layer_norm"), b))
    norm = ("ln", W[p + "layer_norm.weight"], W[p + "layer_norm.bias"], 1e-5)
    traced(trace, "head", (y, norm, W[p + "embed_tokens.weight"]))
    return ln(y, p + "layer_norm") @ W[p + "embed_tokens.weight"].T, E


def weights(root, case):
    """A golden case's config, float64 weights (each requiring a gradient) and expected tensors."""
    d = f"{root}/{case}"
    W = read_safetensors(f"{d}/model.safetensors")
    require_grad(W)
    return json.load(open(f"{d}/config.json")), W, read_safetensors(f"{d}/expected.safetensors")


def require_grad(W):
    for t in W.values():
        if t.is_floating_point():
            t.requires_grad_(True)
