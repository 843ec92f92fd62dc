#!/usr/bin/python3
"""Independent gradient x attention relevancy (Chefer, Gur & Wolf 2021, the self-attention rule) for golden
checkpoints (tests/core/data/grad_attn_reference.json).

The float64 forwards of dla_reference.py (GPT-2, Llama, Qwen2, Gemma, GPT-NeoX) and a ViT forward written here from
the Hugging Face ViTForImageClassification semantics (patch convolution, [CLS] + position embeddings, pre-LN blocks
with exact GELU, the classifier on token 0), run with every weight requiring a gradient so that autograd records the
whole graph; each layer's attention probabilities keep their gradient (retain_grad). The target is the logit of the
predicted token at the position (the class logit for ViT); R = I, then per layer, first first,
R += mean_h((dA * A).clamp(min=0)) @ R; the row of the position is recorded, with the target and its logit.
Run with Debian's torch: /usr/bin/python3 tests/scripts/grad_attn_reference.py GOLDEN_DIR >
tests/core/data/grad_attn_reference.json
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dla_reference as ref  # noqa: E402

DECODERS = ["gpt2-tiny-random", "llama-gqa-random", "llama-stories260k", "qwen2-tiny-random", "gemma-tiny-random",
            "gpt_neox-tiny-random"]


def final_logits(h, norm, unembed):
    """The model's logits [T, V] from the last residual, differentiably (the norm's scale included)."""
    kind, w, b, eps = norm
    if kind == "rms":
        return ref.rms_norm(h, w, eps) @ unembed.T
    return ref.layer_norm(h, w, b, eps) @ unembed.T


def forward_vit(cfg, W, pixels, probs):
    """ViTForImageClassification: class logits [labels]; appends each layer's probabilities [H, T, T] to probs."""
    E, H, P = cfg["hidden_size"], cfg["num_attention_heads"], cfg["patch_size"]
    d, eps = E // H, cfg["layer_norm_eps"]
    p = "vit."
    patches = torch.nn.functional.conv2d(pixels, W[p + "embeddings.patch_embeddings.projection.weight"],
                                         W[p + "embeddings.patch_embeddings.projection.bias"], stride=P)
    x = patches.flatten(2)[0].T  # [N, E], row-major patches
    x = torch.cat([W[p + "embeddings.cls_token"][0], x], 0) + W[p + "embeddings.position_embeddings"][0]
    T = x.shape[0]
    for l in range(cfg["num_hidden_layers"]):
        b = f"{p}encoder.layer.{l}."
        y = ref.layer_norm(x, W[b + "layernorm_before.weight"], W[b + "layernorm_before.bias"], eps)

        def proj(name):
            return (y @ W[b + f"attention.attention.{name}.weight"].T + W[b + f"attention.attention.{name}.bias"]) \
                .reshape(T, H, d).transpose(0, 1)

        q, k, v = proj("query"), proj("key"), proj("value")
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), -1)
        probs.append(a)
        ctx = (a @ v).transpose(0, 1).reshape(T, E)
        x = x + ctx @ W[b + "attention.output.dense.weight"].T + W[b + "attention.output.dense.bias"]
        z = ref.layer_norm(x, W[b + "layernorm_after.weight"], W[b + "layernorm_after.bias"], eps)
        x = x + ref.gelu_erf(z @ W[b + "intermediate.dense.weight"].T + W[b + "intermediate.dense.bias"]) @ \
            W[b + "output.dense.weight"].T + W[b + "output.dense.bias"]
    x = ref.layer_norm(x, W[p + "layernorm.weight"], W[p + "layernorm.bias"], eps)
    return x[0] @ W["classifier.weight"].T + W["classifier.bias"]


def relevance(probs, position):
    T = probs[0].shape[-1]
    R = torch.eye(T, dtype=torch.float64)
    for a in probs:
        cam = (a.grad * a.detach()).clamp(min=0).mean(0)
        R = R + cam @ R
    return R[position]


def require_grad(W):
    for t in W.values():
        if t.is_floating_point():
            t.requires_grad_(True)


def decoder_case(root, case):
    results = []
    cfg, W, expected, ids = ref.load_case(root, case)
    T = len(ids)
    for pos in (T - 1, T // 3):
        require_grad(W)
        tr = ref.Trace()
        h, norm, unembed = ref.run_forward(cfg, W, ids, tr)
        logits = final_logits(h, norm, unembed)
        if pos == T - 1:  # self-check against the golden Hugging Face logits
            golden = expected["logits_last"] if "logits_last" in expected else expected["logits"][T - 1]
            err = float((logits[T - 1].detach() - golden).abs().max())
            assert err < 1e-3, f"{case}: this reference's logits differ from the golden ones by {err}"
        for a in tr.probs:
            a.retain_grad()
        t = int(logits[pos].argmax())
        logits[pos, t].backward()
        results.append({"position": pos, "target_id": t, "logit": float(logits[pos, t]),
                        "scores": relevance(tr.probs, pos).tolist()})
    return results


def vit_case(root, case):
    cfg, W, expected, _ = None, None, None, None
    d = f"{root}/{case}"
    cfg = json.load(open(f"{d}/config.json"))
    W = ref.read_safetensors(f"{d}/model.safetensors")
    expected = ref.read_safetensors(f"{d}/expected.safetensors")
    require_grad(W)
    probs = []
    logits = forward_vit(cfg, W, expected["pixel_values"], probs)
    err = float((logits.detach() - expected["logits"]).abs().max())
    assert err < 1e-4, f"{case}: this reference's logits differ from the golden ones by {err}"
    for a in probs:
        a.retain_grad()
    t = int(logits.argmax())
    logits[t].backward()
    return [{"position": 0, "target_id": t, "logit": float(logits[t]), "scores": relevance(probs, 0).tolist()}]


def main():
    root = sys.argv[1]
    out = {case: decoder_case(root, case) for case in DECODERS}
    out["vit-tiny-random"] = vit_case(root, "vit-tiny-random")
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
