#!/usr/bin/python3
"""Writes a random BERT-base-sized checkpoint (12 layers, 12 heads, hidden 768,
intermediate 3072, vocab 30522, 512 positions) in Hugging Face layout:
config.json + model.safetensors (F32, HF parameter names). Needs Debian's
python3-torch (/usr/bin/python3). Usage: make_bert_base.py OUT_DIR [POSITIONS]
(POSITIONS defaults to 512; the variant benchmark uses 4096 to sweep long inputs)."""
import json
import os
import struct
import sys

import torch


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bert-base-random"
    os.makedirs(out, exist_ok=True)
    H, L, I, V = 768, 12, 3072, 30522
    P = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    g = torch.Generator().manual_seed(0)

    def rnd(*shape, std=0.02):
        return (torch.randn(*shape, generator=g) * std).float()

    t = {
        "bert.embeddings.word_embeddings.weight": rnd(V, H),
        "bert.embeddings.position_embeddings.weight": rnd(P, H),
        "bert.embeddings.token_type_embeddings.weight": rnd(2, H),
        "bert.embeddings.LayerNorm.weight": torch.ones(H),
        "bert.embeddings.LayerNorm.bias": torch.zeros(H),
        "bert.pooler.dense.weight": rnd(H, H),
        "bert.pooler.dense.bias": torch.zeros(H),
    }
    for l in range(L):
        b = f"bert.encoder.layer.{l}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            t[b + n + ".weight"] = rnd(H, H, std=1.0 / H ** 0.5)
            t[b + n + ".bias"] = torch.zeros(H)
        t[b + "intermediate.dense.weight"] = rnd(I, H, std=1.0 / H ** 0.5)
        t[b + "intermediate.dense.bias"] = torch.zeros(I)
        t[b + "output.dense.weight"] = rnd(H, I, std=1.0 / I ** 0.5)
        t[b + "output.dense.bias"] = torch.zeros(H)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[b + n + ".weight"] = torch.ones(H)
            t[b + n + ".bias"] = torch.zeros(H)
    header, offset, blobs = {}, 0, []
    for name in sorted(t):
        data = t[name].contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for d in blobs:
            f.write(d)
    config = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": V, "hidden_size": H,
              "num_hidden_layers": L, "num_attention_heads": 12, "intermediate_size": I, "hidden_act": "gelu",
              "max_position_embeddings": P, "type_vocab_size": 2, "layer_norm_eps": 1e-12}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print("wrote", out)


if __name__ == "__main__":
    main()
