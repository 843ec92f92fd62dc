#!/usr/bin/python3
"""Independent information-flow graphs (Ferrando & Voita 2024) for the golden decoder checkpoints
(tests/core/data/flow_graph_reference.json).

Uses the float64 forwards of dla_reference.py (which check themselves against the golden Hugging Face logits) and
builds the graph from the paper's definitions, sharing no code with the C++ engine: each layer is an attention step
(the residual, one component per source position j = sum over heads of A^h_ij * v^h_j W_O^h, and the output
projection's bias taken from the checkpoint) and an MLP step (the residual after attention, the MLP's write); each
component z of a sum y has proximity max(0, |y|_1 - |y - z|_1), normalised over the sum's components; from the chosen
position at the top, edges at or above the threshold are kept going down. The threshold is moved off any weight
closer to it than 1e-4, so float32 rounding in the engine cannot flip an edge.
Run: /usr/bin/python3 tests/scripts/flow_graph_reference.py GOLDEN_DIR > tests/core/data/flow_graph_reference.json

With --alti it writes ALTI instead (Ferrando et al. 2022; tests/core/data/alti_reference.json): per layer, each
position's attention-step sum split into one component per source position (the residual added to its own), scored by
proximity and normalised per row, the bias in the sum but nobody's component; the layers' matrices multiplied, first
layer first; the rows of two positions.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dla_reference as ref  # noqa: E402

CASES = ["gpt2-tiny-random", "llama-gqa-random", "llama-stories260k", "qwen2-tiny-random", "gemma-tiny-random",
         "gpt_neox-tiny-random"]


def prox(y, z):
    return max(0.0, float(y.abs().sum() - (y - z).abs().sum()))


def attention_bias(W, cfg, layer):
    mt = cfg["model_type"]
    hidden = cfg.get("hidden_size", cfg.get("n_embd"))
    if mt == "gpt2":
        p = "transformer." if "transformer.wte.weight" in W else ""
        return W[f"{p}h.{layer}.attn.c_proj.bias"]
    if mt == "gpt_neox":
        return W[f"gpt_neox.layers.{layer}.attention.dense.bias"]
    p = "model." if "model.embed_tokens.weight" in W else ""
    name = f"{p}layers.{layer}.self_attn.o_proj.bias"
    return W[name] if name in W else torch.zeros(hidden, dtype=torch.float64)


def graph(tr, W, cfg, position, tau):
    """Returns the edges and every candidate weight (to keep the threshold off them)."""
    L = len(tr.probs)
    edges, weights = [], []
    above = {position}
    for l in reversed(range(L)):
        x_in, mlp = tr.resid_in[l], tr.mlp[l]
        H, T, d = tr.values[l].shape
        bias = attention_bias(W, cfg, l)
        # Per-head, per-source writes: A^h_ij * (v^h_j @ W_O^h.T), W_O^h = the h-th d columns of the projection.
        vo = torch.stack([tr.values[l][h] @ tr.w_o[l][:, h * d:(h + 1) * d].T for h in range(H)])  # [H, T, hidden]
        attn = torch.einsum("hij,hjd->id", tr.probs[l], vo) + bias  # [T, hidden]
        mid = set()
        for i in sorted(above):
            m = x_in[i] + attn[i]
            y = m + mlp[i]
            imp = [prox(y, m), prox(y, mlp[i])]
            tot = sum(imp)
            for kind, w in (("residual", imp[0] / tot), ("mlp", imp[1] / tot)):
                weights.append(w)
                if w >= tau:
                    edges.append({"kind": kind, "layer": l, "from_level": 2 * l + 1, "from": i, "to_level": 2 * l + 2,
                                  "to": i, "weight": w})
                    mid.add(i)
        below = set()
        for i in sorted(mid):
            y = x_in[i] + attn[i]
            sources = [(tr.probs[l][:, i, j, None] * vo[:, j]) for j in range(T)]  # [H, hidden] each
            comps = [x_in[i]] + [s.sum(0) for s in sources] + [bias]
            imp = [prox(y, z) for z in comps]
            tot = sum(imp)
            w = imp[0] / tot
            weights.append(w)
            if w >= tau:
                edges.append({"kind": "residual", "layer": l, "from_level": 2 * l, "from": i, "to_level": 2 * l + 1,
                              "to": i, "weight": w})
                below.add(i)
            for j in range(T):
                w = imp[1 + j] / tot
                weights.append(w)
                if w >= tau:
                    heads = sorted(((h, prox(y, sources[j][h]) / tot) for h in range(H)), key=lambda x: -x[1])
                    edges.append({"kind": "attention", "layer": l, "from_level": 2 * l, "from": j,
                                  "to_level": 2 * l + 1, "to": i, "weight": w, "top_head": heads[0][0],
                                  "top_head_weight": heads[0][1]})
                    below.add(j)
        above = below
    return edges, weights


def alti(tr, W, cfg):
    L = len(tr.probs)
    T = tr.probs[0].shape[1]
    rollout = torch.eye(T, dtype=torch.float64)
    for l in range(L):
        H, _, d = tr.values[l].shape
        vo = torch.stack([tr.values[l][h] @ tr.w_o[l][:, h * d:(h + 1) * d].T for h in range(H)])  # [H, T, hidden]
        attn = torch.einsum("hij,hjd->id", tr.probs[l], vo) + attention_bias(W, cfg, l)
        mix = torch.zeros(T, T, dtype=torch.float64)
        for i in range(T):
            y = tr.resid_in[l][i] + attn[i]
            for j in range(T):
                z = (tr.probs[l][:, i, j, None] * vo[:, j]).sum(0) + (tr.resid_in[l][i] if j == i else 0)
                mix[i, j] = prox(y, z)
            mix[i] /= mix[i].sum()
        rollout = mix @ rollout
    return rollout


def main():
    if "--alti" in sys.argv:
        sys.argv.remove("--alti")
        root, out = sys.argv[1], {}
        for case in CASES:
            cfg, W, _, ids = ref.load_case(root, case)
            tr = ref.Trace()
            ref.run_forward(cfg, W, ids, tr)
            r = alti(tr, W, cfg)
            out[case] = [{"position": p, "scores": r[p].tolist()} for p in (len(ids) - 1, len(ids) // 2)]
        json.dump(out, sys.stdout)
        print()
        return
    root = sys.argv[1]
    out = {}
    for case in CASES:
        cfg, W, _, ids = ref.load_case(root, case)
        tr = ref.Trace()
        ref.run_forward(cfg, W, ids, tr)
        results = []
        for position in (len(ids) - 1, len(ids) // 2):
            tau = 0.04
            for _ in range(50):
                edges, weights = graph(tr, W, cfg, position, tau)
                if min(abs(w - tau) for w in weights) >= 1e-4:
                    break
                tau += 0.0017
            results.append({"position": position, "threshold": tau, "edges": edges})
        out[case] = results
    json.dump(out, sys.stdout, indent=0)
    print()


if __name__ == "__main__":
    main()
