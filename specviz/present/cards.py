"""What a run's header, cards and captions say, as markdown (no Streamlit): what ran and where it
was recorded, the measured headline, the metric cards each with the one definition behind it, and
β beside a drafted token's realised fate. Text from a trace is data: escaped (escape.md)."""
from dataclasses import replace

from .. import theory
from ..measure import metrics
from ..numbers import num, plural, prob
from ..trace import Trace
from . import tokens
from .escape import md
from .round_view import Tok


def describe(trace: Trace) -> str:
    """What ran, as markdown (names from the trace are escaped: they are data)."""
    c = trace.config
    mode = "greedy" if c.temperature == 0 else f"sampled, T = {c.temperature:g}, top-p = {c.top_p:g}"
    what = (f"a token tree of up to {c.tree_nodes} nodes (top\\-k {c.tree_top_k}, depth {c.gamma}, "
            f"{md(c.tree_kind, 10)}) per round" if c.tree_nodes else f"γ = {c.gamma}")
    return (f"target **{md(c.target, 80)}** · draft **{md(c.draft, 80)}** · {what} · {mode} · "
            f"seed {c.seed} · {md(c.device, 20)}/{md(c.dtype, 20)}")


def recorded_with(trace: Trace) -> str:
    """Where a trace came from: library versions, device and platform (a replay says so)."""
    env = {k: str(v) for k, v in trace.env.items()}
    if not env:
        return "Recorded with: unknown (this trace has no environment record)."
    libs = " · ".join(f"{k} {env[k]}" for k in ("specviz", "torch", "transformers", "python") if k in env)
    where = env.get("gpu") or env.get("device", trace.config.device)
    return (f"Recorded with {libs} on {where}" + (f" ({env['platform']})" if "platform" in env else "")
            + ". Same seed, settings and versions on the same device give the same tokens.")


def headline(trace: Trace) -> str:
    """One line of the run's measured numbers (markdown, the prompt escaped)."""
    s = metrics.summarize(trace)
    return (f"Measured in this run: α = {num(s.alpha)} · τ = {num(s.mean_acceptance_length)} tokens "
            f"per target pass · speedup {num(s.speedup_measured, '.2f', '×')} on a shared CPU. "
            f"The prompt: “{md(trace.prompt, 90)}”")


def metric_cards(trace: Trace) -> list[list[tuple[str, str, str]]]:
    """(label, value, help) of every card, from the one definition in specviz.measure.metrics."""
    s = metrics.summarize(trace)
    if s.tree:
        return tree_cards(trace, s)
    plain_steps = sum(r.correction.kind == "target" for r in trace.rounds)
    beta = ("β = Σ min(p, q) of each checked draft position, from the full distributions; its mean "
            "is the paper's α itself (E[β] = α), a check on the estimate beside it. Greedy: β is 1 "
            "or 0 (p and q are one-hot at their top tokens).")
    if s.alpha_expected is None:
        beta = "not recorded: this trace predates β (trace version 1). " + beta
    acceptance = [
        ("α (Leviathan)", num(s.alpha),
         f"Leviathan's α: the chance that a checked drafted token is accepted. accepted ÷ checked "
         f"= {s.accepted} ÷ {s.checked} (tokens after a rejection are never checked). Feeds both theories."),
        ("mean β", num(s.alpha_expected), beta),
        ("τ per pass", num(s.mean_acceptance_length),
         f"τ, the mean acceptance length: output tokens per target pass = {s.tokens} ÷ {s.rounds} "
         f"(vLLM, EAGLE, Spec-Bench). {_tau_parts(s)} Passes in which the drafter proposed nothing "
         f"count too ({plain_steps} here: the target's own plain steps)."),
        ("E[τ] at α", num(s.expected_acceptance_length),
         "Leviathan's expected tokens per pass at this α over the drafts made: (1 − α^(γ+1)) / (1 − α) "
         "when every round drafts γ. Beside the measured τ it checks the paper's model: "
         f"τ {num(s.mean_acceptance_length)} vs E[τ] {num(s.expected_acceptance_length)}."),
        ("vLLM rate", num(s.draft_acceptance_rate),
         f"vLLM's draft acceptance rate: accepted ÷ drafted = {s.accepted} ÷ {s.drafted}, counting the "
         "tokens after a rejection that were never checked. Not Leviathan's α (equal only at γ = 1); "
         "never fed to the formulas.")]
    speed = [
        *_cost_cards(s, "c: draft seconds per drafted token ÷ one plain target step of this run (Leviathan's "
                     "c). A per-round fixed draft cost (EAGLE's catch-up) is spread over the round's drafted "
                     "tokens.",
                     "v: seconds of one verify pass over γ + 1 tokens ÷ one plain target step, measured in "
                     "this run. Leviathan's formula assumes v = 1."),
        ("theory", num(s.speedup_theoretical, ".2f", "×"), _theory_help(s)),
        ("theory with v", num(s.speedup_verify_aware, ".2f", "×"),
         f"Verify-aware theory: E[τ] ÷ (γ̄c + v), the theory card's formula (the drafts this run made, "
         f"γ̄ = {s.nodes_per_pass:.2f} per pass) with the measured verify cost v instead of 1. The gap "
         "chart shows the rest of the way to the measured speedup.")]
    return [acceptance, speed]


def _cost_cards(s: metrics.Summary, c_help: str, v_help: str) -> list[tuple[str, str, str]]:
    """The draft cost, the verify cost and the measured speedup, a chain's or a tree's words."""
    return [("c draft cost", num(s.cost_ratio), c_help), ("v verify cost", num(s.verify_cost), v_help),
            _measured_card(s)]


def _theory_help(s: metrics.Summary) -> str:
    """The theory card's help: Leviathan's formula at the drafts the run made (what it computes).

    Leviathan's (1 − α^(γ+1)) / ((1 − α)(γc + 1)) assumes every round drafts γ; a run that drafted
    fewer (lookup without a match, the last rounds before max_new_tokens) would be credited with
    drafts it never made, so the card takes E[τ] and γc over the drafts actually made."""
    text = (f"Leviathan's theory for the drafts this run made, at its α and c: E[τ] ÷ (γ̄c + 1), E[τ] = "
            f"1 + Σᵢ (passes drafting position i) · α^(i+1) ÷ passes, γ̄ = {s.drafted} ÷ {s.rounds} = "
            f"{s.nodes_per_pass:.2f} drafted per pass. With every round drafting γ this is "
            "(1 − α^(γ+1)) / ((1 − α)(γc + 1)). Assumes a verify pass costs one plain step.")
    if s.alpha is None or s.cost_ratio is None or f"{s.nodes_per_pass:.2f}" == f"{s.gamma:.2f}":
        return text
    at_gamma = theory.speedup_theoretical(s.alpha, s.gamma, s.cost_ratio)
    return text + (f" This run drafted fewer than its γ = {s.gamma} per pass; at γ = {s.gamma} in every "
                   f"round the formula would give {at_gamma:.2f}×, crediting drafts that were never made.")


def _tau_parts(s: metrics.Summary) -> str:
    """Where τ's output tokens came from, and the accepted drafts that never became output."""
    past = s.rounds + s.accepted - s.tokens
    return (f"{plural(s.accepted, 'accepted draft')} + {plural(s.rounds, 'target token')}"
            + (f", less {past} accepted after the output ended (EOS), which are not output." if past > 0 else "."))


def _measured_card(s: metrics.Summary) -> tuple[str, str, str]:
    return ("measured", num(s.speedup_measured, ".2f", "×"),
            f"Measured speedup: plain decoding s/token ÷ speculative s/token, both in this run "
            f"({s.baseline_s_per_token * 1e3:.1f} ms vs {s.spec_s_per_token * 1e3:.1f} ms per token)."
            if s.speedup_measured is not None else
            "Measured speedup: n/a, this trace has no plain-decoding baseline to compare with.")


def tree_cards(trace: Trace, s: metrics.Summary) -> list[list[tuple[str, str, str]]]:
    """The cards of a run that drafted token trees: Leviathan's α and the chain theories do not
    apply, so the cards say what a tree reports instead (specviz.measure.metrics, "Token trees")."""
    c = trace.config
    acceptance = [
        ("accepted ÷ checked", num(s.node_acceptance),
         f"Of the tree nodes the walk tested, the share it accepted: {s.accepted} ÷ {s.checked}. A chain's "
         "is Leviathan's α; a tree also tests siblings a chain never drafts, so its share is lower "
         "while τ is higher. Leviathan's α, E[τ] and both theories describe chains: n/a for trees."),
        ("mean β", num(s.alpha_expected),
         "Mean β over the tested nodes, β = Σ min(p, q_j) at each test (p after the earlier siblings' "
         "residual updates, q_j what the node was drawn from; greedy: 1 if it is the target's top "
         "token). Its expectation is the share beside it."),
        ("τ per pass", num(s.mean_acceptance_length),
         f"τ: output tokens per target pass = {s.tokens} ÷ {s.rounds}: each pass gives its accepted path "
         f"plus the target's own token. {_tau_parts(s)}"),
        ("nodes / pass", f"{s.nodes_per_pass:.1f}",
         f"Tree nodes drafted and scored per pass (budget {c.tree_nodes}, top-k {c.tree_top_k}, depth "
         f"{c.gamma}): the target's pass reads all of them, plus the root."),
        ("vLLM rate", num(s.draft_acceptance_rate),
         f"accepted ÷ drafted nodes = {s.accepted} ÷ {s.drafted}: most nodes of a tree are alternatives "
         "that can never all be kept.")]
    speed = [
        *_cost_cards(s, "c: draft seconds per drafted node ÷ one plain target step of this run (EAGLE-2 "
                     "drafts a whole depth of the tree in one batched draft call).",
                     "v: seconds of the one target pass over the root and every node (tree mask) ÷ one "
                     "plain target step, measured in this run. On a GPU a pass of 60 nodes costs about one "
                     "step; on a small CPU it costs more, and that is what decides the best tree size."),
        ("τ ÷ (N̄c + v)", num(s.speedup_from_costs, ".2f", "×"),
         "What this run's τ and measured costs predict: τ ÷ (nodes per pass × c + v). The gap to the "
         "measured speedup is the loop's own work and timing noise."),
        ("α (Leviathan)", "n/a",
         "Leviathan's α and his E[τ] and speedup formulas model a chain of γ i.i.d. guesses; a tree's "
         "tokens per pass depend on its shape. This run reports τ and accepted ÷ checked nodes instead.")]
    return [acceptance, speed]


WHAT = {"α (Leviathan)": "accepted ÷ checked drafted tokens",
        "accepted ÷ checked": "a tree: accepted ÷ tested nodes (a chain's α)",
        "nodes / pass": "tree nodes scored per target pass",
        "τ ÷ (N̄c + v)": "τ at the measured costs",
        "mean β": "mean Σ min(p, q) per checked position",
        "τ per pass": "tokens per target pass (mean acceptance length)",
        "E[τ] at α": "Leviathan's expected τ at this α",
        "vLLM rate": "vLLM's accepted ÷ drafted (not α)",
        "c draft cost": "draft s per token ÷ plain step",
        "v verify cost": "verify pass ÷ plain step (paper: 1)",
        "measured": "plain s/token ÷ speculative s/token",
        "theory": "Leviathan: E[τ] / (γ̄c + 1), drafts made",
        "theory with v": "E[τ] / (γ̄c + v), drafts made"}


def token_label(toks: list[Tok]):
    """Radio label (markdown, so escaped): position, the token shortened, its fate glyph."""
    def label(j: int) -> str:
        text = tokens.visible(toks[j].text)
        text = text if len(text) <= 12 else text[:11] + "…"
        return f"{j + 1} · {md(text.strip() or '␣', 14)} {tokens.FATES[toks[j].fate][1]}"
    return label


_NODE_TOKENS: dict = {}


def tree_node_token(rec, pos: int):
    """The path token at pos with the p and q of its node after its parent (for the bars)."""
    key = (id(rec), pos)
    if key not in _NODE_TOKENS:
        node = [n for n in rec.tree.nodes if n.fate == "accepted"][pos]
        _NODE_TOKENS[key] = (rec, replace(rec.draft[pos], p=node.p, q=node.q))
        while len(_NODE_TOKENS) > 512:
            _NODE_TOKENS.pop(next(iter(_NODE_TOKENS)))
    return _NODE_TOKENS[key][1]


def beta_line(trace: Trace, tok: Tok, tree: bool = False) -> str:
    """β beside the realised decision of one checked drafted token (markdown)."""
    if tok.beta is None:
        return "**β: not recorded.** This trace predates β (trace version 1)."
    if tree and trace.config.temperature != 0:
        return (f"**β = {prob(tok.beta, 2)}**, realised: **{tok.fate}**. At its test the walk "
                f"accepts this node with probability β = Σ min(p, q_j), p after its earlier siblings' "
                f"residual updates and q_j what it was drawn from (top-k children: one-hot, so β = p(x)); "
                f"here p/q = {prob(tokens.ratio(tok.p, tok.q))} against r = {prob(tok.r)}.")
    if trace.config.temperature == 0:
        return (f"**β = {tok.beta:.0f}**, realised: **{tok.fate}**. Greedy: p and q are one-hot at "
                "their top tokens, so the target accepts with probability 1 when both models' top "
                "token is the same and 0 when it is not: β is the decision itself.")
    return (f"**β = {prob(tok.beta, 2)}**, realised: **{tok.fate}**. The target accepts the "
            f"draft's token at this position with probability β = Σ min(p, q) (over the draft's own "
            f"draw); for the token it drew, min(1, p/q) = {prob(min(tokens.ratio(tok.p, tok.q), 1.0))}.")


def shape(trace: Trace) -> str:
    """γ = k, or a token tree's budget."""
    c = trace.config
    return f"tree of {c.tree_nodes}" if c.tree_nodes else f"γ = {c.gamma}"
