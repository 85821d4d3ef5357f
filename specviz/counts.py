"""What a run observed, counted once: the engine fills a Counts round by round, a trace is
recounted into one, a server's counters are read into one, and every run metric derives from it
(specviz.measure.metrics defines them).
"""
from dataclasses import dataclass, field


@dataclass
class Counts:
    """What a run (or many pooled runs, or a server's counters) observed; every metric derives from it.

    Per-position lists are indexed by draft position i = 0 .. γ−1.
    """

    passes: int = 0  # target verify passes (rounds), with or without drafts
    drafted: int = 0  # drafted tokens
    accepted: int = 0  # accepted drafted tokens
    rejections: int = 0  # checked drafted tokens that were rejected (a chain: rounds ending in a rejection)
    tokens: int = 0  # output tokens produced by these passes
    drafted_at: list[int] = field(default_factory=list)  # rounds that drafted position (a tree: depth) i
    checked_at: list[int] = field(default_factory=list)  # rounds whose position i the target checked
    accepted_at: list[int] = field(default_factory=list)  # rounds whose position i was accepted
    tree_rounds: int = 0  # rounds whose draft branched (a token tree): α and the theories are for chains
    beta_sum: float = 0.0  # Σ β over checked positions
    beta_n: int = 0  # checked positions with a recorded β
    draft_s: float = 0.0
    verify_s: float = 0.0

    def add_round(self, n_drafted: int, n_accepted: int, betas: list[float | None] | None = None,
                  draft_s: float = 0.0, verify_s: float = 0.0, tokens: int | None = None) -> None:
        """Count one round: n_drafted proposed, the first n_accepted kept, then the target's token."""
        checked = min(n_accepted + 1, n_drafted)
        self.add_tree_round(n_drafted, n_drafted, n_accepted, int(n_accepted < n_drafted), checked,
                            (betas or [])[:checked], False, draft_s, verify_s, tokens)

    def add_tree_round(self, nodes: int, depth: int, accepted: int, rejected: int, checked_depth: int,
                       betas: list[float | None] | None = None, branched: bool = True,
                       draft_s: float = 0.0, verify_s: float = 0.0, tokens: int | None = None) -> None:
        """Count one round of a token tree (a chain is the tree of width 1): nodes drafted down to
        depth, the walk tested nodes down to checked_depth, accepted a path of `accepted` nodes
        and rejected `rejected` tested nodes; betas of the tested nodes."""
        self.passes += 1
        self.drafted += nodes
        self.accepted += accepted
        self.rejections += rejected
        self.tree_rounds += branched
        self.tokens += accepted + 1 if tokens is None else tokens
        _grow(self, depth)
        for i in range(depth):
            self.drafted_at[i] += 1
            self.checked_at[i] += i < checked_depth
            self.accepted_at[i] += i < accepted
        for b in betas or []:
            if b is not None:
                self.beta_sum, self.beta_n = self.beta_sum + b, self.beta_n + 1
        self.draft_s += draft_s
        self.verify_s += verify_s

    def __add__(self, other: "Counts") -> "Counts":
        out = Counts()
        for c in (self, other):
            _grow(out, len(c.drafted_at))
            for name in ("drafted_at", "checked_at", "accepted_at"):
                mine = getattr(out, name)
                for i, v in enumerate(getattr(c, name)):
                    mine[i] += v
            for name in ("passes", "drafted", "accepted", "rejections", "tokens", "beta_sum",
                         "beta_n", "draft_s", "verify_s", "tree_rounds"):
                setattr(out, name, getattr(out, name) + getattr(c, name))
        return out

    @property
    def checked(self) -> int:
        return self.accepted + self.rejections

    @property
    def mean_gamma(self) -> float:
        """Drafted tokens per pass (γ unless lookup ran short or max_new_tokens capped a draft)."""
        return self.drafted / self.passes if self.passes else 0.0


def _grow(c: Counts, n: int) -> None:
    for name in ("drafted_at", "checked_at", "accepted_at"):
        lst = getattr(c, name)
        lst.extend([0] * (n - len(lst)))


def tree_counts(parents: list[int], fates: list[str], betas: list[float | None]) -> dict:
    """Counts.add_tree_round's arguments for one tree (nodes in topological order, fates
    "accepted" | "rejected" | "unchecked", β per node); the engine and traces both use it."""
    depths = []
    for a in parents:
        depths.append(1 if a < 0 else depths[a] + 1)
    tested = [j for j, f in enumerate(fates) if f != "unchecked"]
    return dict(nodes=len(parents), depth=max(depths, default=0),
                accepted=sum(f == "accepted" for f in fates),
                rejected=sum(fates[j] == "rejected" for j in tested),
                checked_depth=max((depths[j] for j in tested), default=0),
                betas=[betas[j] for j in tested],
                branched=len(set(parents)) < len(parents))  # some node has two children
