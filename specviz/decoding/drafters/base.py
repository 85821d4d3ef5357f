"""The drafter protocol (HF's CandidateGenerator: the drafter, not the caller, knows its
internals), the one start-up of a run, and deterministic one-hot proposals."""
import torch

from ..cached_lm import CachedLM
from ..sampling import SamplingParams


class Drafter:
    """What the engine needs from a drafter; the defaults are those of a drafter that keeps no
    state, always proposes itself and cannot branch."""

    name: str
    wants_hidden = False  # reads the target's last hidden states (EAGLE, Medusa) through observe()
    samples = True  # draws its proposals with the uniforms u it is given (False: deterministic)
    branches = False  # can draft a token tree: expander() grows one

    def prefill(self, seq: torch.Tensor) -> None:
        """See the prompt seq [1, n] (all but its last token are settled in the target's cache)."""

    def propose(self, seq: torch.Tensor, gamma: int, params: SamplingParams, u) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to gamma tokens [k] after seq and the distributions q [k, V] they were drawn from."""
        raise NotImplementedError

    def rollback(self, n_valid: int) -> None:
        """Forget everything after the first n_valid tokens of the sequence."""

    def observe(self, hidden: torch.Tensor, start: int) -> None:
        """The target's last hidden states [m, H] (after its final norm) for positions start .. start+m-1."""

    def route(self, seq: torch.Tensor) -> str:
        """Who proposes the next round after seq: "draft" (a hybrid: "lookup" where the context repeats)."""
        return "draft"

    def expander(self, seq: torch.Tensor, params: SamplingParams):
        """This round's token-tree expander after seq, or None if this drafter cannot branch.

        An expander has root_q (q after the root [V]) and is called as expand(tree, nodes) -> q
        after each of those nodes [n, V], in one batched draft call (specviz.decoding.grow); it
        may have max_depth, renumber(new_id) (it keeps per-node state) and keep_path(path) (it
        cached tree nodes: keep the accepted ones)."""
        return None


def start(lm: CachedLM, drafter: Drafter, seq: torch.Tensor) -> None:
    """Start a run: the target caches all but the last prompt token (handing its hidden states
    to drafters that read them) and the drafter sees the prompt."""
    if seq.shape[1] > 1:
        if drafter.wants_hidden:
            drafter.observe(lm.forward_with_hidden(seq[:, :-1])[1], 0)
        else:
            lm.forward(seq[:, :-1])
    drafter.prefill(seq)


def one_hot_proposal(found: list[int], vocab_size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic proposals: the tokens and q = 1 on each of them."""
    tokens = torch.tensor(found, dtype=torch.long, device=device)
    q = torch.zeros(len(found), vocab_size, device=device)
    q[torch.arange(len(found), device=device), tokens] = 1.0
    return tokens, q
