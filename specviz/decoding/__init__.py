"""Decoding: real models drafting and verifying, in paper notation (p target, q draft, γ).

sampling.py   verification of a chain (Leviathan et al. 2023) and the draws it records
tree.py       verification of a token tree, its attention mask and positions
models.py     the model registry (models.yaml) and loading by hub id, once per process
kernels.py    the CPU decoding forward; kerneltable.py and autotune.py choose its kernels here
cached_lm.py  a model with its own KV cache that can be cut back
drafters/     one proposer per file, each owning how it grows a token tree
grow.py       growing a token tree with a drafter's expander, and the tree's target pass
gamma.py      γ policies (fixed, heuristic, online) and γ chosen from measurements
machine.py    this machine's c and v(k), and the γ they choose
engine.py     the draft -> verify loop (chains and trees) and plain decoding
record.py     one run from its settings to a Trace
Imports only the foundation (errors, trace, paths, counts, theory).
"""
