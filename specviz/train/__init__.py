"""Training drafts for a frozen target (self-distillation) and running them as drafters.

draft.py    the draft modules (EAGLE, layers, Medusa), checkpoints, trained:NAME drafters
distill.py  `python -m specviz distill`: data from the target's own answers, training, eval
"""
