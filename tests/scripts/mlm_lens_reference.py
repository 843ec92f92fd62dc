#!/usr/bin/python3
"""An independent masked-LM logit lens for BERT (tests/core/data/bert_mlm_head.safetensors and mlm_lens_reference.json).

The golden BERT checkpoint is a sequence classifier; its masked-LM form is made here by adding a seeded MLM head in
Hugging Face's BertForMaskedLM names (cls.predictions.transform.dense, .transform.LayerNorm, cls.predictions.bias;
the decoder tied to the word embeddings, as HF ties it), written to bert_mlm_head.safetensors. A float64 BERT forward
written from modeling_bert.py's semantics (word + position + token-type embeddings, LayerNorm; post-LN layers with
exact GELU) runs on the golden input (it first checks its last hidden state against the golden one); every layer's
output goes through the MLM head (dense, GELU, LayerNorm, tied decoder + bias). Recorded per layer and position: the
top five token ids with their logits, and the logits of the input's own ids. The C++ test assembles the checkpoint
(the golden weights without the classifier and pooler, plus this head) and compares.
Run with Debian's torch: /usr/bin/python3 tests/scripts/mlm_lens_reference.py GOLDEN_DIR OUT_DIR
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dla_reference as ref  # noqa: E402


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.astype(np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    root, out_dir = sys.argv[1], sys.argv[2]
    d = f"{root}/bert-tiny-random"
    cfg = json.load(open(f"{d}/config.json"))
    W = ref.read_safetensors(f"{d}/model.safetensors")
    E = ref.read_safetensors(f"{d}/expected.safetensors")
    H, heads, V, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["vocab_size"], cfg["layer_norm_eps"]
    rng = np.random.RandomState(20261202)
    head = {
        "cls.predictions.transform.dense.weight": rng.normal(0, 1 / math.sqrt(H), (H, H)),
        "cls.predictions.transform.dense.bias": rng.normal(0, 0.05, (H,)),
        "cls.predictions.transform.LayerNorm.weight": 1 + 0.1 * rng.normal(0, 1, (H,)),
        "cls.predictions.transform.LayerNorm.bias": rng.normal(0, 0.05, (H,)),
        "cls.predictions.bias": rng.normal(0, 0.05, (V,)),
    }
    write_safetensors(f"{out_dir}/bert_mlm_head.safetensors", head)
    Hd = {k: torch.from_numpy(v.astype(np.float32).astype(np.float64)) for k, v in head.items()}

    ids = E["input_ids"].reshape(-1)
    types = E["token_type_ids"].reshape(-1)
    T, dh = len(ids), H // heads
    p = "bert."
    x = W[p + "embeddings.word_embeddings.weight"][ids] + W[p + "embeddings.position_embeddings.weight"][:T] + \
        W[p + "embeddings.token_type_embeddings.weight"][types]
    x = ref.layer_norm(x, W[p + "embeddings.LayerNorm.weight"], W[p + "embeddings.LayerNorm.bias"], eps)
    outs = []
    for l in range(cfg["num_hidden_layers"]):
        b = f"{p}encoder.layer.{l}."

        def lin(name, inp):
            return inp @ W[b + name + ".weight"].T + W[b + name + ".bias"]

        q, k, v = [lin(f"attention.self.{n}", x).reshape(T, heads, dh).transpose(0, 1) for n in ("query", "key", "value")]
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(dh), -1)  # the mask is all ones
        ctx = (a @ v).transpose(0, 1).reshape(T, H)
        x = ref.layer_norm(x + lin("attention.output.dense", ctx), W[b + "attention.output.LayerNorm.weight"],
                           W[b + "attention.output.LayerNorm.bias"], eps)
        y = lin("output.dense", ref.gelu_erf(lin("intermediate.dense", x)))
        x = ref.layer_norm(x + y, W[b + "output.LayerNorm.weight"], W[b + "output.LayerNorm.bias"], eps)
        outs.append(x)
    err = float((outs[-1] - E["last_hidden_state"].reshape(T, H)).abs().max())
    assert err < 1e-4, f"this reference's last hidden state differs from the golden one by {err}"

    layers = []
    for h in outs:
        t = ref.gelu_erf(h @ Hd["cls.predictions.transform.dense.weight"].T + Hd["cls.predictions.transform.dense.bias"])
        t = ref.layer_norm(t, Hd["cls.predictions.transform.LayerNorm.weight"],
                           Hd["cls.predictions.transform.LayerNorm.bias"], eps)
        logits = t @ W[p + "embeddings.word_embeddings.weight"].T + Hd["cls.predictions.bias"]  # [T, V]
        top = torch.topk(logits, 5, -1)
        layers.append([{"top_ids": top.indices[i].tolist(), "top_logits": top.values[i].tolist(),
                        "input_logit": float(logits[i, ids[i]])} for i in range(T)])
    json.dump({"case": "bert-tiny-random", "golden_hidden_error": err, "layers": layers}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
