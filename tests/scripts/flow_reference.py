#!/usr/bin/python3
"""Independent attention-flow numbers (tests/core/data/flow_reference.json), computed as Abnar & Zuidema's own code
does (samiraabnar/attention_flow: attention_graph_util.py): heads averaged, the identity added for the residual,
rows renormalised, a layered directed graph with the attention weights as capacities, networkx's Edmonds-Karp maximum
flow from an output node to every input node, the flows normalised to sum 1. The attentions are seeded random
softmax rows (full and causal) plus a hand-checkable case, written into the JSON with the expected flows, so the C++
test reads its inputs from the same file. Needs Debian's python3-networkx (reference authoring only, not CI).
Run: /usr/bin/python3 tests/scripts/flow_reference.py > tests/core/data/flow_reference.json
"""
import json

import networkx as nx
import numpy as np


def flows(att, query):
    """att: [layers, heads, T, T] -> flow from `query` at the top to each input position, normalised."""
    L, _, T, _ = att.shape
    res = att.mean(axis=1) + np.eye(T)[None]
    res = res / res.sum(axis=-1, keepdims=True)
    G = nx.DiGraph()
    for l in range(L):
        for i in range(T):
            for j in range(T):
                if res[l, i, j] > 0:
                    G.add_edge((l + 1, i), (l, j), capacity=float(res[l, i, j]))
    out = np.array([nx.maximum_flow_value(G, (L, query), (0, j), flow_func=nx.algorithms.flow.edmonds_karp)
                    if G.has_node((0, j)) else 0.0 for j in range(T)])
    return (out / out.sum()).tolist()


def random_attention(rng, layers, heads, T, causal):
    scores = rng.normal(0, 2, size=(layers, heads, T, T))
    if causal:
        scores = np.where(np.triu(np.ones((T, T)), 1)[None, None] > 0, -np.inf, scores)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main():
    rng = np.random.default_rng(2026)
    cases = []
    # Hand-checkable: 2 layers, 3 positions; layer 0 attends only to itself, layer 1 row 2 splits 0.5 / 0.5 over
    # positions 0 and 1. Flow from the top of position 2: 0.25 to each of 0 and 1 (half of each half), 0.5 to 2.
    hand = np.zeros((2, 1, 3, 3))
    hand[0, 0] = np.eye(3)
    hand[1, 0] = [[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0]]
    cases.append({"name": "hand", "attention": hand.tolist(), "query": 2, "flow": flows(hand, 2)})
    for name, layers, heads, T, causal, query in [("full", 3, 2, 7, False, 0), ("causal", 2, 3, 8, True, 7),
                                                  ("causal-mid", 4, 2, 6, True, 3)]:
        att = random_attention(rng, layers, heads, T, causal)
        cases.append({"name": name, "attention": att.tolist(), "query": query, "flow": flows(att, query)})
    json.dump({"cases": cases}, __import__("sys").stdout)
    print()


if __name__ == "__main__":
    main()
