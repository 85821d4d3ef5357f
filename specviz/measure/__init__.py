"""Measuring runs: the one definition of every metric, the one interleaved repeats loop and its
pooling rule, pass and draft costs, counterfactual replay, the benchmark, the brief's decision,
the tree sweep, the distribution lab and the lossless sandbox. Imports decoding and the foundation.
"""
