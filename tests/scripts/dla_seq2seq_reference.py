#!/usr/bin/python3
"""Independent direct logit attribution of the pre-norm encoder-decoder checkpoints' decoders (T5, Whisper), written
to tests/core/data/dla_seq2seq_reference.json.

The float64 forwards of seq2seq_models.py (written from the models' published semantics, sharing no code with the
C++ engine) record what the decoder's embeddings, every self-attention head, every cross-attention head (its slice
of the attention output through its columns of the output projection, no bias), every feed-forward block and the
output biases write to the decoder's residual stream; the logit of the predicted token at two decoder positions is
split into them with the final norm's scale frozen at the actual residual (TransformerLens' convention), as
dla_reference.py does for decoder-only models. Parts: embed, L{l}H{h}, L{l}.cross.H{h}, L{l}.mlp, bias. The
forwards' logits are checked against the golden ones and the parts against the logit.
Run with Debian's torch: /usr/bin/python3 tests/scripts/dla_seq2seq_reference.py GOLDEN_DIR >
tests/core/data/dla_seq2seq_reference.json
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dla_reference import Trace, attribute  # noqa: E402
from seq2seq_models import t5, whisper  # noqa: E402


def case(root, forward):
    tr = Trace()
    with torch.no_grad():
        logits, E = forward(root, [], ([], []), tr)
    T = logits.shape[0]
    err = float((logits - E["logits"].reshape(T, -1)).abs().max())
    assert err < 1e-4, f"this reference's logits differ from the golden ones by {err}"
    h, norm, unembed = tr.head
    results = []
    for pos in (T - 1, T // 2):
        res, lens_logits = attribute(tr, h, norm, unembed, pos)
        assert float((lens_logits - logits[pos]).abs().max()) < 1e-9  # the recorded head is the model's own
        total = sum(res["parts"].values())
        assert abs(total - res["logit"]) < 1e-8 * max(1.0, abs(res["logit"])), (total, res["logit"])
        assert any(k.startswith("L0.cross.") for k in res["parts"])
        res["golden_logits_error"] = err
        results.append(res)
    return results


def main():
    root = sys.argv[1]
    out = {name: case(root, forward) for name, forward in (("t5-tiny-random", t5), ("whisper-tiny-random", whisper))}
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
