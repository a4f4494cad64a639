"""Does the per-value question work better with the value before or after the response?

Asks the judge one yes/no question per value about the shipped calibration references (the
answers that act on each value and those that violate it) under several prompt layouts, and
prints, per value, the separation (P(yes) of the acting answer minus the violating one, mean over
the references) and the specificity (how much more an acting answer lifts its own value than the
others, net of column offsets), on the 0..1 scale of P(yes):

* ``package``: the package's question (``scoring.questions.build_value_messages``: value first);
* ``value_first``: a bare prompt, value first, no fences;
* ``value_last``: the same bare prompt with the value after the response (cache-friendly).

Usage:
    .venv/bin/python benchmarks/judge_prompt_order.py --judge local-1.5b --values confucianism-4 \
        [--pairs 5] [--layouts package,value_first,value_last]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from langchain_picaco.llm.models import resolve_model
from langchain_picaco.scoring.questions import build_value_messages, parse_value_answer
from langchain_picaco.values.queries import load_calibration_references
from langchain_picaco.values.value_sets import Value, load_value_set

BARE_SYSTEM = "You are a strict evaluator. Answer with one word: Yes or No."
BARE_QUESTION = "Does the response act on the value '{name}'? Answer Yes or No."


def messages(layout: str, value: Value, query: str, response: str) -> list[BaseMessage]:
    """The question about ``value`` under one layout."""
    if layout == "package":
        return build_value_messages(value, query, response)
    head = f"Value: {value.name}: {value.description}"
    body = f"User query: {query}\n\nResponse: {response}"
    parts = [head, body] if layout == "value_first" else [body, head]
    human = "\n\n".join([*parts, BARE_QUESTION.format(name=value.name)])
    return [SystemMessage(BARE_SYSTEM), HumanMessage(human)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", default="local-1.5b")
    parser.add_argument("--values", default="confucianism-4")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--layouts", default="package,value_first,value_last")
    args = parser.parse_args()
    value_set = load_value_set(args.values)
    refs = load_calibration_references(list(value_set.names))
    judge = resolve_model(args.judge, role="judge", max_tokens=1)
    ask = judge.bind(logprobs=True, top_logprobs=20, grammar='root ::= "Yes" | "No"')
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"commit {commit}, judge {args.judge}, {args.values}, load {os.getloadavg()[0]:.1f}")
    for layout in args.layouts.split(","):

        def p_yes(value: Value, query: str, response: str, layout: str = layout) -> float:
            answer = parse_value_answer(ask.invoke(messages(layout, value, query, response)))
            assert answer is not None
            return (answer.score - 1.0) / 4.0

        started = time.monotonic()
        seps: dict[str, list[float]] = {}
        conf: dict[str, dict[str, list[float]]] = {}
        for v in value_set.values:
            for e in refs[v.name][: args.pairs]:
                acts = p_yes(v, e["query"], e["acts"])
                seps.setdefault(v.name, []).append(acts - p_yes(v, e["query"], e["violates"]))
                for w in value_set.values:
                    score = acts if w.name == v.name else p_yes(w, e["query"], e["acts"])
                    conf.setdefault(v.name, {}).setdefault(w.name, []).append(score)
        names = value_set.names
        m = {a: {b: statistics.mean(conf[a][b]) for b in names} for a in names}
        off = {b: statistics.mean(m[a][b] for a in names) for b in names}
        spec = {
            a: (m[a][a] - off[a]) - statistics.mean(m[a][b] - off[b] for b in names if b != a)
            for a in names
        }
        sep = " / ".join(f"{statistics.mean(seps[n]):+.2f}" for n in names)
        sp = " / ".join(f"{spec[n]:+.2f}" for n in names)
        print(
            f"{layout}: separation {sep}; specificity {sp} ({' / '.join(names)}); "
            f"{time.monotonic() - started:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
