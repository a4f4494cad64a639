"""What does injecting a meta-instruction cost at run time?

Compares, in one process and on a fake chat model (so only LangChain overhead is measured):

- chain: ``prompt | PicacoRunnable(mi) | model`` against the same chain whose prompt has the merged
  system text written by hand (``prompt_merged | model``);
- agent: ``create_agent(..., system_prompt=user, middleware=[PicacoMiddleware(mi)])`` against a
  plain ``create_agent(..., system_prompt=merged)``;
- the merge alone (``merge_instruction`` and ``PicacoRunnable.merge``, no callbacks).

For scale, each comparison also times a do-nothing step of the same kind (an identity
``RunnableLambda`` in the chain, a pass-through ``AgentMiddleware`` in the agent): that is what
LangChain's own bookkeeping for one extra step costs, before any merging.

Variants are ALTERNATED in small blocks (and the order flips each block) so machine drift hits
both alike; each invocation is timed on its own and medians are compared.

Usage:
    .venv/bin/python benchmarks/bench_injection.py            # 2000 invocations per variant
    .venv/bin/python benchmarks/bench_injection.py --n 200    # a quick look
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from langchain_picaco.inject.merge import merge_instruction
from langchain_picaco.inject.runnable import PicacoRunnable

INSTRUCTION = (
    "Answer so that honesty, care for the person, respect for their autonomy and fairness to "
    "others are all honoured together; when they pull apart, say so and find the answer that "
    "keeps each of them."
)
USER_SYSTEM = "You are a museum guide. Answer only from the context below.\n\nContext: {context}"
INPUTS = {"context": "The Rosetta Stone was found in 1799 near Rashid.", "question": "When?"}


def _timed_blocks(
    variants: dict[str, Callable[[], Any]], n: int, block: int, warmup: int
) -> dict[str, list[float]]:
    """Run each variant ``n`` times in alternating blocks; return per-call seconds."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    names = list(variants)
    samples: dict[str, list[float]] = {k: [] for k in names}
    gc.collect()
    perf = time.perf_counter
    for b in range(-(-n // block)):
        order = names if b % 2 == 0 else names[::-1]
        for name in order:
            fn = variants[name]
            todo = min(block, n - len(samples[name]))
            out = samples[name]
            for _ in range(todo):
                t0 = perf()
                fn()
                out.append(perf() - t0)
    return samples


def _stats(xs: list[float]) -> tuple[float, float]:
    qs = statistics.quantiles(xs, n=10)
    return statistics.median(xs) * 1e6, qs[-1] * 1e6


def _row(name: str, xs: list[float]) -> str:
    med, p90 = _stats(xs)
    return f"  {name:<52} {med:>10.1f} {p90:>10.1f} {len(xs):>6}"


def bench_chain(n: int, block: int) -> tuple[list[str], float]:
    model = FakeListChatModel(responses=["ok"])
    prompt = ChatPromptTemplate.from_messages([("system", USER_SYSTEM), ("human", "{question}")])
    merged = merge_instruction(USER_SYSTEM, INSTRUCTION, "prepend")
    by_hand = ChatPromptTemplate.from_messages([("system", merged), ("human", "{question}")])
    picaco = PicacoRunnable(INSTRUCTION)
    # Both variants must send the model the very same messages.
    assert (prompt | picaco).invoke(INPUTS) == by_hand.invoke(INPUTS)
    injected = prompt | picaco | model
    plain = by_hand | model
    noop = by_hand | RunnableLambda(lambda v: v) | model
    samples = _timed_blocks(
        {
            "injected": lambda: injected.invoke(INPUTS),
            "plain": lambda: plain.invoke(INPUTS),
            "noop": lambda: noop.invoke(INPUTS),
        },
        n,
        block,
        warmup=max(50, n // 20),
    )
    base = _stats(samples["plain"])[0]
    ratio = _stats(samples["injected"])[0] / base
    rows = [
        _row("chain: prompt | PicacoRunnable | model", samples["injected"]),
        _row("chain: prompt (merged text by hand) | model", samples["plain"]),
        f"  {'ratio injected / by hand (target <= 1.10)':<52} {ratio:>10.3f}",
        _row("  reference: by hand | identity RunnableLambda | model", samples["noop"]),
        f"  {'  reference ratio: identity step / by hand':<52} "
        f"{_stats(samples['noop'])[0] / base:>10.3f}",
    ]
    return rows, ratio


def bench_agent(n: int, block: int) -> tuple[list[str], float]:
    from langchain.agents import create_agent
    from langchain.agents.middleware import AgentMiddleware

    from langchain_picaco.inject.middleware import PicacoMiddleware

    class PassThrough(AgentMiddleware):
        def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
            return handler(request)

    system = "You are a museum guide. Answer briefly."
    merged = merge_instruction(system, INSTRUCTION, "prepend")
    injected = create_agent(
        model=FakeListChatModel(responses=["ok"]),
        tools=[],
        system_prompt=system,
        middleware=[PicacoMiddleware(INSTRUCTION)],
    )
    plain = create_agent(model=FakeListChatModel(responses=["ok"]), tools=[], system_prompt=merged)
    noop = create_agent(
        model=FakeListChatModel(responses=["ok"]),
        tools=[],
        system_prompt=merged,
        middleware=[PassThrough()],
    )
    payload = {"messages": [("user", "When was the Rosetta Stone found?")]}
    samples = _timed_blocks(
        {
            "injected": lambda: injected.invoke(payload),
            "plain": lambda: plain.invoke(payload),
            "noop": lambda: noop.invoke(payload),
        },
        n,
        block,
        warmup=max(20, n // 40),
    )
    base = _stats(samples["plain"])[0]
    ratio = _stats(samples["injected"])[0] / base
    rows = [
        _row("agent: create_agent + PicacoMiddleware", samples["injected"]),
        _row("agent: create_agent(system_prompt=merged by hand)", samples["plain"]),
        f"  {'ratio injected / by hand (target <= 1.10)':<52} {ratio:>10.3f}",
        _row("  reference: by hand + pass-through middleware", samples["noop"]),
        f"  {'  reference ratio: pass-through / by hand':<52} "
        f"{_stats(samples['noop'])[0] / base:>10.3f}",
    ]
    return rows, ratio


def bench_merge() -> list[str]:
    picaco = PicacoRunnable(INSTRUCTION)
    prompt_value = ChatPromptTemplate.from_messages(
        [("system", USER_SYSTEM), ("human", "{question}")]
    ).invoke(INPUTS)
    rows = []
    for name, stmt in [
        ("merge_instruction(text) alone", lambda: merge_instruction(USER_SYSTEM, INSTRUCTION)),
        ("PicacoRunnable.merge(prompt value), no callbacks", lambda: picaco.merge(prompt_value)),
        ("PicacoRunnable.invoke(prompt value)", lambda: picaco.invoke(prompt_value)),
    ]:
        timer = timeit.Timer(stmt)
        number, _ = timer.autorange()
        best = min(timer.repeat(repeat=5, number=number)) / number
        rows.append(f"  {name:<52} {best * 1e6:>10.2f} {'(best of 5)':>10} {number:>6}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="invocations per variant")
    parser.add_argument("--block", type=int, default=50, help="invocations per alternating block")
    parser.add_argument("--skip-agent", action="store_true", help="skip the agent comparison")
    args = parser.parse_args()

    header = f"  {'variant':<52} {'median µs':>10} {'p90 µs':>10} {'n':>6}"
    print(
        f"injection overhead, fake model, {args.n} invocations per variant, blocks of {args.block}"
    )
    print(header)
    chain_rows, _ = bench_chain(args.n, args.block)
    print("\n".join(chain_rows))
    if not args.skip_agent:
        agent_rows, _ = bench_agent(args.n, args.block)
        print("\n".join(agent_rows))
    print("\n".join(bench_merge()))


if __name__ == "__main__":
    main()
