"""Bring your own server: a serving engine's speculative-decoding metrics, read from its
Prometheus /metrics page and turned into the same numbers as SpecViz's runs.

vLLM (`vllm:`) and llama.cpp's server (`llamacpp:`) share one counter schema (cumulative,
summed over engines, one result per model_name):
  <prefix>spec_decode_num_drafts_total                     drafts (target passes that verified a draft)
  <prefix>spec_decode_num_draft_tokens_total               drafted tokens
  <prefix>spec_decode_num_accepted_tokens_total            accepted drafted tokens
  <prefix>spec_decode_num_accepted_tokens_per_pos_total{position="i"}  drafts whose position i was accepted
With k position counters they fill a Counts (specviz.counts): passes = drafts, drafted_at[i] = drafts,
checked_at[i] = accepted_at[i−1] (checked_at[0] = drafts), rejections = drafts − accepted_at[k−1].
specviz.measure.metrics then gives τ = 1 + accepted ÷ drafts, the vLLM-style rate accepted ÷ draft tokens,
per-position acceptance (unconditional accepted_at[i] ÷ drafts, conditional accepted_at[i] ÷
accepted_at[i−1]) and Leviathan's α̂ = accepted ÷ (accepted + drafts − accepted_at[k−1]). Drafts
shorter or longer than k make α a bound, and the app says which.
TensorRT-LLM (`trtllm_`, `trtllm:` behind some Dynamo versions) counts drafted and accepted tokens
per position (label token_position) when a request finishes: drafts = drafted at position 0,
drafted_at[i] its own. Without those it has only token totals (the rate, no τ) and its
spec_decode_acceptance_length gauge.
SGLang: τ = Δ generation tokens ÷ Δ sglang:spec_verify_calls_total, exact over any window; its
spec_accept_length and spec_accept_rate are gauges over its latest logging window, read only as a
labelled fallback. TGI (archived): tgi_request_skipped_tokens (one observation per generation
step, the tokens that step added beyond one) gives τ.

Counters only grow: one that went down between two scrapes means the server restarted. A series
that is not there yet counts zero (llama.cpp adds its per-position counters with the first
speculative request; TensorRT-LLM adds a position when it first counts one).

fetch.py       a guarded fetch of a /metrics page (public addresses only, bounded, one-line errors)
prometheus.py  the page parsed into totals per model, for each engine's schema
readout.py     totals as the app's numbers (α, τ, rates, per position) and what they cannot tell
watch.py       windows over time, restarts, the trend
requests.py    per-request responses (vLLM's per-request metrics, llama.cpp's timings, ...)
health.py      alarms: collapse, decay, jump
report.py      the decision brief's production section from a readout
"""
