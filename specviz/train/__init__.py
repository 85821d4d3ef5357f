"""Training drafts for a frozen target (self-distillation); training only: the drafters that run
a trained draft are specviz.decoding.drafters (network.py, trained.py).

data.py     distillation data the target writes itself: requests, answers, copy-style requests
prompts.py  what the target is asked while it writes them (task types, rewrites, typos)
draft.py    a draft's shape copied from the target, its start, its checkpoint and card
distill.py  training, logit-scale calibration and the held-out evaluation (`python -m specviz
            distill` is cli/distill.py)
"""
