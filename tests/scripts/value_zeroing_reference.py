#!/usr/bin/python3
"""Independent value-zeroing numbers (Mohebbi et al. 2023) for golden decoders
(tests/core/data/value_zeroing_reference.json).

With the float64 forwards of dla_reference.py: for every layer l and position j, the forward is rerun with j's value
vectors zeroed in every head of layer l; the cosine distance between each position's original and changed output of
layer l fills column j of that layer's matrix; rows are normalised to sum 1 and the layers' matrices multiplied,
first layer first. Rows of two positions per case.
Run: /usr/bin/python3 tests/scripts/value_zeroing_reference.py GOLDEN_DIR > tests/core/data/value_zeroing_reference.json
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dla_reference as ref  # noqa: E402

CASES = ["gpt2-tiny-random", "llama-gqa-random", "gpt_neox-tiny-random"]


def layer_outputs(cfg, W, ids, zero=None):
    tr = ref.Trace()
    tr.zero = zero
    h, _, _ = ref.run_forward(cfg, W, ids, tr)
    return tr.resid_in[1:] + [h]


def main():
    root = sys.argv[1]
    out = {}
    for case in CASES:
        cfg, W, _, ids = ref.load_case(root, case)
        T = len(ids)
        base = layer_outputs(cfg, W, ids)
        rollout = torch.eye(T, dtype=torch.float64)
        for l in range(len(base)):
            mix = torch.zeros(T, T, dtype=torch.float64)
            for j in range(T):
                changed = layer_outputs(cfg, W, ids, (l, j))[l]
                mix[:, j] = 1 - torch.nn.functional.cosine_similarity(base[l], changed, dim=1, eps=1e-12)
            mix = mix.clamp(min=0)
            mix = mix / mix.sum(1, keepdim=True)
            rollout = mix @ rollout
        out[case] = [{"position": p, "scores": rollout[p].tolist()} for p in (T - 1, T // 2)]
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
