#!/usr/bin/python3
"""Independent gradient x attention relevancy for encoder-decoder checkpoints (Chefer, Gur & Wolf 2021, the
encoder-decoder rules), written to tests/core/data/grad_attn_seq2seq_reference.json.

The float64 forwards of seq2seq_models.py (T5, BART, Whisper; each checked here against the golden logits), every
attention probability keeping its own gradient (retain_grad). The target is the
logit of the predicted token at a decoder position t. Relevance (the paper's equations 6-11):
R_ss = I (encoder), R_tt = I (decoder), R_ts = 0; cam(A) = mean_h((dA * A).clamp(min=0));
per encoder layer R_ss += cam @ R_ss; per decoder layer, its self-attention R_tt += cam @ R_tt, R_ts += cam @ R_ts,
then its cross-attention R_ts += bar(R_tt).T @ cam @ bar(R_ss), with bar(R) = I + rows of (R - I) normalised to sum
1 (a row with nothing in it stays 0). Recorded: row t of R_ts (encoder positions) and of R_tt (decoder positions).
Run with Debian's torch: /usr/bin/python3 tests/scripts/grad_attn_seq2seq_reference.py GOLDEN_DIR >
tests/core/data/grad_attn_seq2seq_reference.json
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seq2seq_models import bart, t5, whisper  # noqa: E402


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
