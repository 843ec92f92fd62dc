#!/usr/bin/python3
"""Independent ALTI rows and information-flow graphs for encoders and image/audio models
(tests/core/data/alti_encoder_reference.json).

Float64 forwards written here from each model's published semantics, sharing no code with the C++ engine:
- bert-tiny-random: BertModel (word + position + token-type embeddings, LayerNorm; post-LN layers
  x = LN1(x + O·Attn(x)), x = LN2(x + FFN(x)), exact GELU), checked against the golden last hidden state;
- vit-tiny-random: ViTForImageClassification (pre-LN blocks), checked against the golden logits;
- kwt1-audio: KWT-1 (post-LN, approximate GELU, one head, no q/k/v bias) from the golden MFCC features, checked
  against the golden logits;
- the encoder stacks of t5-tiny-random (pre-RMSNorm, the golden relative position bias), bart-tiny-random (post-LN)
  and whisper-tiny-random (pre-LN after the convolutions), checked against the golden encoder outputs.
ALTI (Ferrando et al. 2022, "Measuring the mixing of contextual information in the transformer"): in each layer,
position i's attention-step sum x_i + sum_j sum_h A^h_ij v^h_j W_O^h + b_O is split into one component per source j
(the residual x_i added to j = i; the bias belongs to nobody). Pre-LN models score each component z by its
proximity max(0, |y|_1 - |y - z|_1) to the sum y; post-LN models first pass the sum through the layer's LayerNorm
(y = LN1(sum)) and each component through the norm made linear by freezing sigma at the actual sum:
(z - mean z) / sigma * gamma, beta belonging to nobody (the paper's treatment of BERT). Rows are normalised and the
layers' matrices multiplied, first layer first. Rows of two positions per case.
The information-flow graph (Ferrando & Voita 2024) uses the same components per step (the attention step with the
bias as a component of its own; the MLP step with the residual after attention and the MLP's write, both through
the second norm in post-LN models), keeping edges at or above a threshold moved off every weight by 1e-4. A node
none of whose parts is nearer its sum than zero (all proximities 0; it happens at KWT's [CLS] in the top layer, where
the residual and the MLP's write largely cancel) has no edges.
Run with Debian's torch: /usr/bin/python3 tests/scripts/alti_encoder_reference.py GOLDEN_DIR >
tests/core/data/alti_encoder_reference.json
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dla_reference import gelu_erf, gelu_tanh, layer_norm, read_safetensors  # noqa: E402


class Layer:
    """What one layer's decomposition needs."""

    def __init__(self, x_in, probs, vo, bias, mlp, norm1, norm2):
        self.x_in, self.probs, self.vo, self.bias, self.mlp = x_in, probs, vo, bias, mlp
        self.norm1, self.norm2 = norm1, norm2  # (gamma, beta, eps) of a post-LN model, else None


def attention_layer(x, W, b, names, heads, scale, score_bias=None, d=None):
    """Self-attention of x [T, E]: probabilities [heads, T, T], per-source per-head writes [heads, T, E], bias [E].
    Each projection adds its bias where the checkpoint has one; score_bias [heads, T, T] is added to the scores."""
    T, E = x.shape
    d = d or E // heads

    def lin(name):
        y = x @ W[b + name + ".weight"].T
        return y + W[b + name + ".bias"] if b + name + ".bias" in W else y

    q, k, v = [lin(names[n]).reshape(T, heads, d).transpose(0, 1) for n in ("q", "k", "v")]
    s = q @ k.transpose(1, 2) * scale
    a = torch.softmax(s + score_bias if score_bias is not None else s, -1)
    w_o = W[b + names["o"] + ".weight"]  # [E, heads*d]
    vo = torch.stack([v[h] @ w_o[:, h * d:(h + 1) * d].T for h in range(heads)])  # [heads, T, E]
    o_bias = b + names["o"] + ".bias"
    return a, vo, W[o_bias] if o_bias in W else torch.zeros(E, dtype=torch.float64)


def post_ln(sum_, norm):
    return layer_norm(sum_, *norm) if norm else sum_


def linearised(parts, sum_, norm):
    """Components of sum_ as they reach the output of the norm with sigma frozen at sum_."""
    if not norm:
        return parts
    gamma, _, eps = norm
    sigma = torch.sqrt(((sum_ - sum_.mean()) ** 2).mean() + eps)
    return (parts - parts.mean(-1, keepdim=True)) / sigma * gamma


def prox(y, z):
    return torch.clamp(y.abs().sum() - (y - z).abs().sum(-1), min=0)


def bert(root):
    d = f"{root}/bert-tiny-random"
    cfg = json.load(open(f"{d}/config.json"))
    W, E = read_safetensors(f"{d}/model.safetensors"), read_safetensors(f"{d}/expected.safetensors")
    assert bool((E["attention_mask"] == 1).all())
    ids, types = E["input_ids"].reshape(-1), E["token_type_ids"].reshape(-1)
    T, eps, heads = len(ids), cfg["layer_norm_eps"], cfg["num_attention_heads"]
    p = "bert."
    x = W[p + "embeddings.word_embeddings.weight"][ids] + W[p + "embeddings.position_embeddings.weight"][:T] + \
        W[p + "embeddings.token_type_embeddings.weight"][types]
    x = layer_norm(x, W[p + "embeddings.LayerNorm.weight"], W[p + "embeddings.LayerNorm.bias"], eps)
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "o": "attention.output.dense"}
    layers = []
    for l in range(cfg["num_hidden_layers"]):
        b = f"{p}encoder.layer.{l}."
        a, vo, bias = attention_layer(x, W, b, names, heads, 1 / math.sqrt(x.shape[1] // heads))
        n1 = (W[b + "attention.output.LayerNorm.weight"], W[b + "attention.output.LayerNorm.bias"], eps)
        n2 = (W[b + "output.LayerNorm.weight"], W[b + "output.LayerNorm.bias"], eps)
        mid = layer_norm(x + torch.einsum("hij,hjd->id", a, vo) + bias, *n1)
        mlp = gelu_erf(mid @ W[b + "intermediate.dense.weight"].T + W[b + "intermediate.dense.bias"]) @ \
            W[b + "output.dense.weight"].T + W[b + "output.dense.bias"]
        layers.append(Layer(x, a, vo, bias, mlp, n1, n2))
        x = layer_norm(mid + mlp, *n2)
    err = float((x - E["last_hidden_state"].reshape(T, -1)).abs().max())
    assert err < 1e-4, f"bert: this reference's last hidden state differs from the golden one by {err}"
    return layers


def vit(root):
    d = f"{root}/vit-tiny-random"
    cfg = json.load(open(f"{d}/config.json"))
    W, E = read_safetensors(f"{d}/model.safetensors"), read_safetensors(f"{d}/expected.safetensors")
    H, P, eps = cfg["num_attention_heads"], cfg["patch_size"], cfg["layer_norm_eps"]
    p = "vit."
    patches = torch.nn.functional.conv2d(E["pixel_values"], W[p + "embeddings.patch_embeddings.projection.weight"],
                                         W[p + "embeddings.patch_embeddings.projection.bias"], stride=P)
    x = torch.cat([W[p + "embeddings.cls_token"][0], patches.flatten(2)[0].T], 0) + \
        W[p + "embeddings.position_embeddings"][0]
    names = {"q": "attention.attention.query", "k": "attention.attention.key", "v": "attention.attention.value",
             "o": "attention.output.dense"}
    layers = []
    for l in range(cfg["num_hidden_layers"]):
        b = f"{p}encoder.layer.{l}."
        y = layer_norm(x, W[b + "layernorm_before.weight"], W[b + "layernorm_before.bias"], eps)
        a, vo, bias = attention_layer(y, W, b, names, H, 1 / math.sqrt(x.shape[1] // H))
        mid = x + torch.einsum("hij,hjd->id", a, vo) + bias
        z = layer_norm(mid, W[b + "layernorm_after.weight"], W[b + "layernorm_after.bias"], eps)
        mlp = gelu_erf(z @ W[b + "intermediate.dense.weight"].T + W[b + "intermediate.dense.bias"]) @ \
            W[b + "output.dense.weight"].T + W[b + "output.dense.bias"]
        layers.append(Layer(x, a, vo, bias, mlp, None, None))
        x = mid + mlp
    x = layer_norm(x, W[p + "layernorm.weight"], W[p + "layernorm.bias"], eps)
    logits = x[0] @ W["classifier.weight"].T + W["classifier.bias"]
    err = float((logits - E["logits"]).abs().max())
    assert err < 1e-4, f"vit: this reference's logits differ from the golden ones by {err}"
    return layers


def kwt(root):
    d = f"{root}/kwt1-audio"
    cfg = json.load(open(f"{d}/config.json"))
    W, E = read_safetensors(f"{d}/model.safetensors"), read_safetensors(f"{d}/expected.safetensors")
    H, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    feats = E["input_features"]
    x = torch.cat([W["kwt.class_emb"].reshape(1, -1), feats @ W["kwt.patch_proj.weight"].T + W["kwt.patch_proj.bias"]],
                  0) + W["kwt.pos_emb"]
    names = {"q": "attn.q", "k": "attn.k", "v": "attn.v", "o": "attn.out"}
    layers = []
    for l in range(cfg["num_hidden_layers"]):
        b = f"kwt.layers.{l}."
        a, vo, bias = attention_layer(x, W, b, names, H, cfg["attention_scale"])
        n1 = (W[b + "ln1.weight"], W[b + "ln1.bias"], eps)
        n2 = (W[b + "ln2.weight"], W[b + "ln2.bias"], eps)
        mid = layer_norm(x + torch.einsum("hij,hjd->id", a, vo) + bias, *n1)
        mlp = gelu_tanh(mid @ W[b + "ffn.fc1.weight"].T + W[b + "ffn.fc1.bias"]) @ W[b + "ffn.fc2.weight"].T + \
            W[b + "ffn.fc2.bias"]
        layers.append(Layer(x, a, vo, bias, mlp, n1, n2))
        x = layer_norm(mid + mlp, *n2)
    logits = x[0] @ W["classifier.weight"].T + W["classifier.bias"]
    err = float((logits - E["logits"]).abs().max())
    assert err < 1e-3, f"kwt: this reference's logits differ from the golden ones by {err}"
    return layers


def t5_encoder(root):
    """T5's encoder stack: pre-RMSNorm layers without biases, no score scaling, the relative position bias that
    Hugging Face computed (the golden encoder_position_bias), ReLU feed-forward; checked against the golden
    encoder_last_hidden_state."""
    d = f"{root}/t5-tiny-random"
    cfg = json.load(open(f"{d}/config.json"))
    W, E = read_safetensors(f"{d}/model.safetensors"), read_safetensors(f"{d}/expected.safetensors")
    heads, eps = cfg["num_heads"], cfg["layer_norm_epsilon"]

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w

    x = W["shared.weight"][E["input_ids"].reshape(-1)]
    names = {"q": "layer.0.SelfAttention.q", "k": "layer.0.SelfAttention.k", "v": "layer.0.SelfAttention.v",
             "o": "layer.0.SelfAttention.o"}
    layers = []
    for l in range(cfg["num_layers"]):
        b = f"encoder.block.{l}."
        y = rms(x, W[b + "layer.0.layer_norm.weight"])
        a, vo, bias = attention_layer(y, W, b, names, heads, 1.0, E["encoder_position_bias"], cfg["d_kv"])
        mid = x + torch.einsum("hij,hjd->id", a, vo) + bias
        z = rms(mid, W[b + "layer.1.layer_norm.weight"])
        mlp = torch.relu(z @ W[b + "layer.1.DenseReluDense.wi.weight"].T) @ W[b + "layer.1.DenseReluDense.wo.weight"].T
        layers.append(Layer(x, a, vo, bias, mlp, None, None))
        x = mid + mlp
    out = rms(x, W["encoder.final_layer_norm.weight"])
    err = float((out - E["encoder_last_hidden_state"]).abs().max())
    assert err < 1e-4, f"t5: this reference's encoder output differs from the golden one by {err}"
    return layers


def bart_encoder(root):
    """BART's encoder stack: token embeddings scaled by sqrt(d_model) + learned positions offset by 2, then
    layernorm_embedding; post-LN layers, exact GELU; checked against the golden encoder_last_hidden_state."""
    d = f"{root}/bart-tiny-random"
    cfg = json.load(open(f"{d}/config.json"))
    W, E = read_safetensors(f"{d}/model.safetensors"), read_safetensors(f"{d}/expected.safetensors")
    heads, D = cfg["encoder_attention_heads"], cfg["d_model"]
    ids = E["input_ids"].reshape(-1)
    T = len(ids)
    p = "model.encoder."
    x = W["model.shared.weight"][ids] * (math.sqrt(D) if cfg["scale_embedding"] else 1.0) + \
        W[p + "embed_positions.weight"][2:T + 2]
    x = layer_norm(x, W[p + "layernorm_embedding.weight"], W[p + "layernorm_embedding.bias"], 1e-5)
    names = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.out_proj"}
    layers = []
    for l in range(cfg["encoder_layers"]):
        b = f"{p}layers.{l}."
        a, vo, bias = attention_layer(x, W, b, names, heads, 1 / math.sqrt(D // heads))
        n1 = (W[b + "self_attn_layer_norm.weight"], W[b + "self_attn_layer_norm.bias"], 1e-5)
        n2 = (W[b + "final_layer_norm.weight"], W[b + "final_layer_norm.bias"], 1e-5)
        mid = layer_norm(x + torch.einsum("hij,hjd->id", a, vo) + bias, *n1)
        mlp = gelu_erf(mid @ W[b + "fc1.weight"].T + W[b + "fc1.bias"]) @ W[b + "fc2.weight"].T + W[b + "fc2.bias"]
        layers.append(Layer(x, a, vo, bias, mlp, n1, n2))
        x = layer_norm(mid + mlp, *n2)
    err = float((x - E["encoder_last_hidden_state"]).abs().max())
    assert err < 1e-4, f"bart: this reference's encoder output differs from the golden one by {err}"
    return layers


def whisper_encoder(root):
    """Whisper's encoder stack: two GELU convolutions over the log-mel features (the second with stride 2) plus the
    position table; pre-LN layers (no key bias), exact GELU; checked against the golden encoder_last_hidden_state."""
    d = f"{root}/whisper-tiny-random"
    cfg = json.load(open(f"{d}/config.json"))
    W, E = read_safetensors(f"{d}/model.safetensors"), read_safetensors(f"{d}/expected.safetensors")
    heads, D = cfg["encoder_attention_heads"], cfg["d_model"]
    p = "model.encoder."
    x = torch.nn.functional.gelu(torch.nn.functional.conv1d(E["input_features"], W[p + "conv1.weight"],
                                                            W[p + "conv1.bias"], padding=1))
    x = torch.nn.functional.gelu(torch.nn.functional.conv1d(x, W[p + "conv2.weight"], W[p + "conv2.bias"], stride=2,
                                                            padding=1))
    x = x[0].T + W[p + "embed_positions.weight"][:x.shape[-1]]
    names = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.out_proj"}
    layers = []
    for l in range(cfg["encoder_layers"]):
        b = f"{p}layers.{l}."
        y = layer_norm(x, W[b + "self_attn_layer_norm.weight"], W[b + "self_attn_layer_norm.bias"], 1e-5)
        a, vo, bias = attention_layer(y, W, b, names, heads, 1 / math.sqrt(D // heads))
        mid = x + torch.einsum("hij,hjd->id", a, vo) + bias
        z = layer_norm(mid, W[b + "final_layer_norm.weight"], W[b + "final_layer_norm.bias"], 1e-5)
        mlp = gelu_erf(z @ W[b + "fc1.weight"].T + W[b + "fc1.bias"]) @ W[b + "fc2.weight"].T + W[b + "fc2.bias"]
        layers.append(Layer(x, a, vo, bias, mlp, None, None))
        x = mid + mlp
    out = layer_norm(x, W[p + "layer_norm.weight"], W[p + "layer_norm.bias"], 1e-5)
    err = float((out - E["encoder_last_hidden_state"]).abs().max())
    assert err < 1e-4, f"whisper: this reference's encoder output differs from the golden one by {err}"
    return layers


def alti(layers):
    T = layers[0].x_in.shape[0]
    rollout = torch.eye(T, dtype=torch.float64)
    for L in layers:
        mix = torch.zeros(T, T, dtype=torch.float64)
        for i in range(T):
            comps = torch.einsum("hj,hjd->jd", L.probs[:, i], L.vo)  # [T, E]
            comps[i] += L.x_in[i]
            s = comps.sum(0) + L.bias  # the residual is in comps[i]
            imp = prox(post_ln(s, L.norm1), linearised(comps, s, L.norm1))
            mix[i] = imp / imp.sum()
        rollout = mix @ rollout
    return rollout


def graph(layers, position, tau):
    """Edges reached from the top node of position (level 2L) and every candidate weight."""
    edges, weights, above = [], [], {position}
    for l in reversed(range(len(layers))):
        L = layers[l]
        T = L.x_in.shape[0]
        heads = L.probs.shape[0]
        attn = torch.einsum("hij,hjd->id", L.probs, L.vo) + L.bias  # [T, E]
        mid = set()
        for i in sorted(above):
            m = post_ln(L.x_in[i] + attn[i], L.norm1)
            s = m + L.mlp[i]
            imp = prox(post_ln(s, L.norm2), linearised(torch.stack([m, L.mlp[i]]), s, L.norm2))
            if float(imp.sum()) == 0:  # neither part is nearer the output than nothing: no edge leaves the node
                continue
            imp = imp / imp.sum()
            for kind, w in (("residual", float(imp[0])), ("mlp", float(imp[1]))):
                weights.append(w)
                if w >= tau:
                    edges.append({"kind": kind, "layer": l, "from_level": 2 * l + 1, "from": i,
                                  "to_level": 2 * l + 2, "to": i, "weight": w})
                    mid.add(i)
        below = set()
        for i in sorted(mid):
            s = L.x_in[i] + attn[i]
            y = post_ln(s, L.norm1)
            per_head = L.probs[:, i, :, None] * L.vo  # [heads, T, E]
            comps = torch.cat([L.x_in[i][None], per_head.sum(0), L.bias[None]])  # [T + 2, E]
            imp = prox(y, linearised(comps, s, L.norm1))
            total = float(imp.sum())
            head_imp = prox(y, linearised(per_head.reshape(-1, per_head.shape[-1]), s, L.norm1)).reshape(heads, T)
            w = float(imp[0]) / total
            weights.append(w)
            if w >= tau:
                edges.append({"kind": "residual", "layer": l, "from_level": 2 * l, "from": i, "to_level": 2 * l + 1,
                              "to": i, "weight": w})
                below.add(i)
            for j in range(T):
                w = float(imp[1 + j]) / total
                weights.append(w)
                if w >= tau:
                    top = int(head_imp[:, j].argmax())
                    edges.append({"kind": "attention", "layer": l, "from_level": 2 * l, "from": j,
                                  "to_level": 2 * l + 1, "to": i, "weight": w, "top_head": top,
                                  "top_head_weight": float(head_imp[top, j]) / total})
                    below.add(j)
        above = below
    return edges, weights


def main():
    root = sys.argv[1]
    out = {}
    for case, build in (("bert-tiny-random", bert), ("vit-tiny-random", vit), ("kwt1-audio", kwt),
                        ("t5-tiny-random", t5_encoder), ("bart-tiny-random", bart_encoder),
                        ("whisper-tiny-random", whisper_encoder)):
        layers = build(root)
        T = layers[0].x_in.shape[0]
        r = alti(layers)
        rows = [{"position": p, "scores": r[p].tolist()} for p in (0, T // 2)]
        graphs = []
        for position in (0, T // 2):
            for step in range(50):
                tau = 0.04 + 0.0017 * step
                edges, weights = graph(layers, position, tau)
                finite = [w for w in weights if w == w]
                if finite and min(abs(w - tau) for w in finite) >= 1e-4:
                    graphs.append({"position": position, "threshold": tau, "edges": edges})
                    break
        assert graphs, f"{case}: no graph with a threshold clear of every weight"
        out[case] = {"alti": rows, "graphs": graphs}
    json.dump(out, sys.stdout, indent=0)
    print()


if __name__ == "__main__":
    main()
