#!/usr/bin/python3
"""PyTorch eager reference for the capture benchmark: the same BERT, written
like Hugging Face's eager BertModel (separate q/k/v Linear, per-layer attention
probabilities returned as with output_attentions=True), run under
torch.inference_mode(). Protocol on stdin/stdout: a line "T" runs one forward
on T tokens and answers the wall time in ms. Usage: reference_bert.py MODEL_DIR"""
import json
import math
import struct
import sys
import time

import torch
import torch.nn.functional as F


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(data[s:e]), dtype=torch.float32).reshape(v["shape"])
    return out


class Bert(torch.nn.Module):
    def __init__(self, w, cfg):
        super().__init__()
        self.w, self.cfg = w, cfg
        self.heads = cfg["num_attention_heads"]

    def forward(self, ids):
        w, H, nh = self.w, self.cfg["hidden_size"], self.heads
        d = H // nh
        T = ids.shape[1]
        pos = torch.arange(T).unsqueeze(0)
        typ = torch.zeros_like(ids)
        h = (F.embedding(ids, w["bert.embeddings.word_embeddings.weight"])
             + F.embedding(pos, w["bert.embeddings.position_embeddings.weight"])
             + F.embedding(typ, w["bert.embeddings.token_type_embeddings.weight"]))
        h = F.layer_norm(h, (H,), w["bert.embeddings.LayerNorm.weight"], w["bert.embeddings.LayerNorm.bias"], 1e-12)
        mask = torch.zeros(1, 1, 1, T)
        attentions = []
        for l in range(self.cfg["num_hidden_layers"]):
            b = f"bert.encoder.layer.{l}."
            lin = lambda x, n: F.linear(x, w[b + n + ".weight"], w[b + n + ".bias"])
            split = lambda x: x.view(1, T, nh, d).permute(0, 2, 1, 3)
            q, k, v = split(lin(h, "attention.self.query")), split(lin(h, "attention.self.key")), split(lin(h, "attention.self.value"))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + mask
            probs = F.softmax(scores, dim=-1)
            attentions.append(probs)
            ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(1, T, H)
            h = F.layer_norm(lin(ctx, "attention.output.dense") + h, (H,), w[b + "attention.output.LayerNorm.weight"],
                             w[b + "attention.output.LayerNorm.bias"], 1e-12)
            inter = F.gelu(lin(h, "intermediate.dense"))
            h = F.layer_norm(lin(inter, "output.dense") + h, (H,), w[b + "output.LayerNorm.weight"],
                             w[b + "output.LayerNorm.bias"], 1e-12)
        return h, attentions


def main():
    d = sys.argv[1]
    cfg = json.load(open(d + "/config.json"))
    model = Bert(load(d + "/model.safetensors"), cfg)
    g = torch.Generator().manual_seed(1)
    print("ready", torch.__version__, "threads", torch.get_num_threads(), flush=True)
    for line in sys.stdin:
        T = int(line)
        ids = torch.randint(0, cfg["vocab_size"], (1, T), generator=g)
        with torch.inference_mode():
            t0 = time.perf_counter()
            h, att = model(ids)
            ms = (time.perf_counter() - t0) * 1000
        print(f"{ms:.3f}", flush=True)


if __name__ == "__main__":
    main()
