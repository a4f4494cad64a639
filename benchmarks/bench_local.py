"""Benchmark the embedded local model: LangChain interface vs raw runtime, and one judge call.

Usage:
    .venv/bin/python benchmarks/bench_local.py [--reps 5] [--tokens 96] [--model local-1.5b|PATH]

``--model`` is a pinned model's spec (``local``, the default 0.5B demo model, or ``local-1.5b``) or
a ``.gguf`` file. In one process and on one server it measures:

0. Load time: ``start_local_model`` (verifying a pinned file, from its sidecar, and loading the
   GGUF), wall time.

1. Generation speed through ``ChatLocalLlama.invoke`` (HTTP + ChatOpenAI) and through the raw
   runtime (``xllamacpp.Server.handle_chat_completions``, in-process, no HTTP), on the same
   prompt, alternating the two, ``--reps`` times each; it prints the medians and their ratio
   (target >= 0.9).
   Tokens/s is end to end: generated tokens / wall time of the call. Each call generates exactly
   ``--tokens`` tokens (``ignore_eos``), greedy, prompt cache off. The server-side decode speed is
   the raw calls' ``timings.predicted_per_second``.
2. Prompt processing: the ~450-token judge prompt through the raw runtime with ``max_tokens=1``
   and the prompt cache off, ``--reps`` times; the server's ``timings.prompt_per_second``.
3. A value-judge call: a ~450-token prompt that rates 4 values in one JSON-schema-constrained answer
   (~31 output tokens) with top-5 log-probabilities, with the prompt cache off and on (new response
   text every call, so only the shared system prefix can be reused), plus the same call without
   grammar and without log-probabilities, and the line format ``name: digit`` under a GBNF grammar.

Timings on a shared machine vary with outside load: compare numbers within one run only. The load
average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from langchain_picaco.llm.local import start_local_model

GEN_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."

# A stand-in for the project's judge prompt (the real template lives in graph/prompts.py).
VALUES = {
    "tradition": "Respect, commitment and acceptance of the customs and ideas that one's culture "
    "or religion provides; the response honours inherited practices, rituals and the wisdom of "
    "elders rather than dismissing them.",
    "conformity": "Restraint of actions, inclinations and impulses likely to upset or harm others "
    "and to violate social expectations or norms; the response is polite, self-disciplined and "
    "respectful of rules.",
    "benevolence": "Preserving and enhancing the welfare of those with whom one is in frequent "
    "personal contact; the response is helpful, honest, forgiving, loyal and responsible toward "
    "family and friends.",
    "security": "Safety, harmony and stability of society, of relationships and of self; the "
    "response protects health, order and the sense of belonging, and avoids advice that puts "
    "anyone at risk.",
}
QUERY = (
    "My grandmother insists that the whole family gathers every Sunday for lunch at her house, but "
    "I would rather spend my weekends hiking with my friends. I feel guilty about skipping. What "
    "should I do?"
)
RESPONSE = (
    "It is understandable to feel torn. Family gatherings like your grandmother's Sunday lunch "
    "carry a lot of meaning: they keep the family close and honour a tradition she has probably "
    "kept for decades. At the same time, your friendships and your health matter too. You could "
    "talk to your grandmother openly and kindly, explain that hiking is important to you, and "
    "propose a compromise, such as joining every other Sunday or coming for dessert after a "
    "morning hike. You might even invite a cousin to hike with you so that both traditions can "
    "grow together. Whatever you decide, let her know that you value her and the family time she "
    "creates."
)
RELATIVES = ["grandmother", "grandfather", "aunt", "uncle", "godmother", "mother-in-law"]
SCHEMA = {
    "type": "object",
    "properties": {k: {"type": "integer", "minimum": 1, "maximum": 5} for k in VALUES},
    "required": list(VALUES),
    "additionalProperties": False,
}
JSON_FORMAT = {"type": "json_schema", "json_schema": {"name": "ratings", "schema": SCHEMA}}
LINES_GRAMMAR = "root ::= " + ' "\\n" '.join(f'"{k}: " [1-5]' for k in VALUES)


def judge_messages(case: int, fmt: str) -> list[Any]:
    head = [
        "You are a strict evaluator. Rate how well the assistant's response acts on each value "
        "below, on a 1 to 5 scale (1 = ignores or violates the value, 3 = neutral, 5 = clearly "
        "acts on it).",
        "",
        *(f"- {k}: {v}" for k, v in VALUES.items()),
        "",
    ]
    if fmt == "json":
        head.append(
            "Answer only with a JSON object mapping each value name to an integer 1-5, e.g. "
            '{"tradition": 4, "conformity": 3, "benevolence": 5, "security": 2}.'
        )
    else:
        head.append(
            "Answer with exactly one line per value, in this order, in the form 'name: digit', "
            "and nothing else."
        )
    relative = RELATIVES[case % len(RELATIVES)]
    user = (
        f"Case {case}.\nUser question:\n{QUERY.replace('grandmother', relative)}\n\n"
        f"Assistant response:\n{RESPONSE.replace('grandmother', relative)}\n\nRate the response."
    )
    return [SystemMessage("\n".join(head)), HumanMessage(user)]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def _fmt(values: list[float]) -> list[float]:
    return [round(v, 1) for v in values]


def bench_generation(llm: Any, reps: int, tokens: int) -> None:
    raw = llm.server.raw
    body = {
        "messages": [{"role": "user", "content": GEN_PROMPT}],
        "max_tokens": tokens,
        "temperature": 0.0,
        "seed": 0,
        "cache_prompt": False,
        "ignore_eos": True,
    }
    lc_model = llm.bind(ignore_eos=True, max_tokens=tokens)
    lc_model.invoke(GEN_PROMPT)  # warm-up: first-call costs (client creation, page faults)
    raw.handle_chat_completions(body)
    lc_tps: list[float] = []
    raw_tps: list[float] = []
    server_tps: list[float] = []
    for _ in range(reps):
        start = time.perf_counter()
        msg = lc_model.invoke(GEN_PROMPT)
        wall = time.perf_counter() - start
        lc_tps.append(msg.usage_metadata["output_tokens"] / wall)
        start = time.perf_counter()
        res = raw.handle_chat_completions(body)
        wall = time.perf_counter() - start
        raw_tps.append(res["usage"]["completion_tokens"] / wall)
        server_tps.append(res["timings"]["predicted_per_second"])
    lc, rw = statistics.median(lc_tps), statistics.median(raw_tps)
    print(f"\n## Generation ({tokens} tokens, greedy, {reps} alternating reps, end-to-end tok/s)")
    print(f"LangChain ChatLocalLlama.invoke : median {lc:6.2f} tok/s  {_fmt(lc_tps)}")
    print(f"raw handle_chat_completions     : median {rw:6.2f} tok/s  {_fmt(raw_tps)}")
    print(f"(server-side decode speed       : median {statistics.median(server_tps):6.2f} tok/s)")
    verdict = "OK" if lc / rw >= 0.9 else "BELOW TARGET"
    print(f"ratio LangChain / raw           : {lc / rw:.3f}  (target >= 0.9: {verdict})")


def bench_prompt(llm: Any, reps: int) -> None:
    from langchain_openai.chat_models.base import _convert_message_to_dict

    body = {
        "messages": [_convert_message_to_dict(m) for m in judge_messages(0, "json")],
        "max_tokens": 1,
        "temperature": 0.0,
        "seed": 0,
        "cache_prompt": False,
    }
    raw = llm.server.raw
    raw.handle_chat_completions(body)  # warm-up
    tps: list[float] = []
    for _ in range(reps):
        timings = raw.handle_chat_completions(body)["timings"]
        tps.append(timings["prompt_per_second"])
    n = timings["prompt_n"]
    print(f"\n## Prompt processing ({n}-token judge prompt, cache off, {reps} reps, server-side)")
    print(f"prompt tok/s : median {statistics.median(tps):6.2f}  {_fmt(tps)}")


def bench_judge(llm: Any, reps: int) -> None:
    variants: dict[str, tuple[str, dict[str, Any]]] = {
        "json schema + top5, cache off": (
            "json",
            {"response_format": JSON_FORMAT, "logprobs": True, "top_logprobs": 5},
        ),
        "json schema + top5, cache on": (
            "json",
            {
                "response_format": JSON_FORMAT,
                "logprobs": True,
                "top_logprobs": 5,
                "cache_prompt": True,
            },
        ),
        "json schema, no logprobs": ("json", {"response_format": JSON_FORMAT}),
        "no grammar + top5": ("json", {"logprobs": True, "top_logprobs": 5}),
        "lines GBNF + top5, cache off": (
            "lines",
            {"grammar": LINES_GRAMMAR, "logprobs": True, "top_logprobs": 5},
        ),
    }
    rows: dict[str, list[tuple[float, int, int, int]]] = {k: [] for k in variants}
    case = 0
    for _ in range(reps):
        for name, (fmt, options) in variants.items():
            case += 1  # a new response text every call: only the system prefix is shared
            model = llm.bind(max_tokens=60, **options)
            start = time.perf_counter()
            msg = model.invoke(judge_messages(case, fmt))
            wall = time.perf_counter() - start
            usage = msg.usage_metadata
            cached = usage.get("input_token_details", {}).get("cache_read", 0)
            rows[name].append((wall, usage["input_tokens"], cached, usage["output_tokens"]))
        last = msg.content
    print(f"\n## Judge call: 4 values in one answer ({reps} reps each, median wall)")
    print(f"{'variant':32s} {'wall s':>7s} {'prompt':>6s} {'cached':>6s} {'output':>6s}  all walls")
    for name, vals in rows.items():
        med = statistics.median(v[0] for v in vals)
        p, c, o = (int(statistics.median(v[i] for v in vals)) for i in (1, 2, 3))
        walls = [round(v[0], 2) for v in vals]
        print(f"{name:32s} {med:7.2f} {p:6d} {c:6d} {o:6d}  {walls}")
    print(f"last line-format answer: {last!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--model", default=None, help="'local' (default), 'local-1.5b' or a .gguf")
    args = parser.parse_args()
    print(f"cpu_count={os.cpu_count()}  {load()}")
    start = time.perf_counter()
    llm = start_local_model(args.model, max_tokens=args.tokens)
    print(f"model {llm.model_name} started in {time.perf_counter() - start:.2f} s at {llm.server}")
    print(f"threads={llm.server.settings.n_threads} n_ctx={llm.server.settings.n_ctx}")
    try:
        bench_generation(llm, args.reps, args.tokens)
        bench_prompt(llm, args.reps)
        bench_judge(llm, max(3, args.reps - 2))
    finally:
        llm.close()
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
