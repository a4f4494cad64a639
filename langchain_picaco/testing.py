"""Scripted chat models and a synthetic world, for tests, benchmarks, notebooks and Studio demos.

The world is small and explicit, so a test can say what *should* happen:

- **Target.** A response acts on a value when the instruction asks for that value by name in a
  *focused* sentence (one that names at most :attr:`SyntheticWorld.focus` values). Values lumped
  into a longer list get the target's attention only for the first ``focus`` of them: the
  "instruction bottleneck" of the paper. With no instruction the target acts on the first
  ``bare_values`` values. When the instruction pastes a value's description, the response parrots
  that description. At temperature > 0 each requested value is acted on with probability
  ``hit_rate`` (seeded, so runs repeat).
- **Judge.** Rates a value 5 when the response carries that value's action sentence and 1
  otherwise (``mode="good"``); ``"weak"`` compresses that to 3.4 / 3.1; ``"none"`` rates at random.
  Optional Gaussian noise (``judge_noise``).
- **Proposer.** Adds a focused sentence for the weakest value it is told about (a random value
  when it is not told); some seeds paste a description (a degenerate edit the redundancy term
  must beat) or echo a question.
- **Likelihood.** A stand-in for log p(y | e, x): responses that do what the instruction asks are
  likelier.

Example:
    .. code-block:: python

        from langchain_picaco import PicacoOptimizer, load_value_set
        from langchain_picaco.testing import SyntheticWorld

        world = SyntheticWorld(load_value_set("confucianism-4"))
        opt = PicacoOptimizer(world.target(), judge=world.judge(), proposer=world.proposer(),
                              values=world.value_set)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from langchain_picaco.values import ValueSet

__all__ = [
    "ScriptedChatModel",
    "ScriptedJudge",
    "ScriptedLikelihood",
    "ScriptedProposer",
    "ScriptedTarget",
    "SyntheticWorld",
]

_FENCE = re.compile(r"<<<RESPONSE (\S+)>>>\n(.*?)\n<<<END RESPONSE \1>>>", re.S)
_INSTRUCTION = re.compile(r"<instruction>(.*?)</instruction>", re.S)
_WEAKEST = re.compile(r"WEAKEST VALUE:\s*([\w\- ]+)")
_EDITS = (
    "Always make sure your answer honours {value}.",
    "Let {value} shape your advice.",
    "Show {value} in what you recommend.",
    "Never lose sight of {value}.",
)


def _rng(*parts: Any) -> random.Random:
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)


class ScriptedChatModel(BaseChatModel):
    """Base of the scripted models: a fixed latency, in-flight call counting, usage metadata.

    Attributes:
        latency: Seconds each call takes (``asyncio.sleep`` in async calls).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    latency: float = 0.0
    accepts_sampling_kwargs: bool = True
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _in_flight: int = PrivateAttr(default=0)
    _max_in_flight: int = PrivateAttr(default=0)
    _calls: int = PrivateAttr(default=0)

    @property
    def max_in_flight(self) -> int:
        """The most calls that were running at the same time."""
        return self._max_in_flight

    @property
    def calls(self) -> int:
        """Calls made so far."""
        return self._calls

    @property
    def _llm_type(self) -> str:
        return f"scripted-{type(self).__name__.lower()}"

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:
        """Return the reply text for ``messages``; subclasses implement it."""
        raise NotImplementedError

    def _enter(self) -> None:
        with self._lock:
            self._calls += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _result(self, messages: list[BaseMessage], **kwargs: Any) -> ChatResult:
        text = self.respond(messages, **kwargs)
        n_in = sum(len(_text(m).split()) for m in messages)
        n_out = len(text.split())
        msg = AIMessage(
            content=text,
            usage_metadata={
                "input_tokens": n_in,
                "output_tokens": n_out,
                "total_tokens": n_in + n_out,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._enter()
        try:
            if self.latency:
                time.sleep(self.latency)
            return self._result(messages, **kwargs)
        finally:
            self._leave()

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._enter()
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return self._result(messages, **kwargs)
        finally:
            self._leave()


class SyntheticWorld:
    """A scripted world in which the right answer is known (see the module docstring).

    Args:
        value_set: The values of the world.
        focus: Most values one instruction sentence can make the target act on.
        bare_values: Values the bare model acts on unprompted.
        hit_rate: Chance a requested value is acted on when sampling at temperature > 0.
        judge_mode: "good", "weak" or "none" (pure noise).
        judge_noise: Standard deviation of Gaussian noise added to each judge rating.
        latency: Seconds per call of every scripted model.
        seed: Seed of the world's own randomness.
    """

    def __init__(
        self,
        value_set: ValueSet,
        *,
        focus: int = 2,
        bare_values: int = 1,
        hit_rate: float = 0.9,
        judge_mode: Literal["good", "weak", "none"] = "good",
        judge_noise: float = 0.0,
        latency: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.value_set = value_set
        self.focus = focus
        self.bare_values = bare_values
        self.hit_rate = hit_rate
        self.judge_mode = judge_mode
        self.judge_noise = judge_noise
        self.latency = latency
        self.seed = seed

    # ------------------------------------------------------------------ the world's rules
    @staticmethod
    def trigger(name: str) -> str:
        """The words that ask for a value: its name with hyphens as spaces, lowercased."""
        return name.replace("-", " ").lower()

    def action_sentence(self, name: str) -> str:
        """The sentence a response carries when it acts on value ``name``."""
        return f"Here I act on {self.trigger(name)} in what I advise."

    def requested(self, instruction: str | None) -> list[str]:
        """Values the target acts on under ``instruction`` (before sampling noise)."""
        if not instruction:
            return list(self.value_set.names[: self.bare_values])
        chosen: list[str] = []
        for sentence in re.split(r"(?<=[.!?;])\s+|\n+", instruction.lower()):
            named = [
                n
                for n in self.value_set.names
                if self.trigger(n) in sentence or n.lower() in sentence
            ]
            for n in named[: self.focus]:
                if n not in chosen:
                    chosen.append(n)
        return chosen

    def parroted(self, instruction: str | None) -> list[str]:
        """Value descriptions the instruction pastes (the target then parrots them)."""
        if not instruction:
            return []
        low = instruction.lower()
        return [v.description for v in self.value_set if v.description[:40].lower() in low]

    def respond(self, instruction: str | None, query: str, *, temperature: float, seed: Any) -> str:
        """The target's response to ``query`` under ``instruction``."""
        rng = _rng(self.seed, "target", instruction, query, seed)
        parts = [f"About your question ({query[:60]}): here is my advice."]
        for name in self.requested(instruction):
            if temperature <= 0 or rng.random() < self.hit_rate:
                parts.append(self.action_sentence(name))
        parts.extend(self.parroted(instruction))
        return " ".join(parts)

    def acted(self, response: str) -> set[str]:
        """Values whose action sentence appears in ``response``."""
        return {n for n in self.value_set.names if self.action_sentence(n) in response}

    # ------------------------------------------------------------------ models
    def target(self) -> ScriptedTarget:
        """The scripted target model."""
        return ScriptedTarget(world=self, latency=self.latency)

    def judge(self, fmt: Literal["json", "lines"] = "json") -> ScriptedJudge:
        """The scripted judge model."""
        return ScriptedJudge(world=self, latency=self.latency, fmt=fmt)

    def proposer(self) -> ScriptedProposer:
        """The scripted proposer model."""
        return ScriptedProposer(world=self, latency=self.latency)

    def likelihood(self) -> ScriptedLikelihood:
        """The scripted likelihood scorer."""
        return ScriptedLikelihood(self)


class ScriptedTarget(ScriptedChatModel):
    """Answers as :meth:`SyntheticWorld.respond` says."""

    world: Any

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:  # noqa: D102
        system = "\n".join(_text(m) for m in messages if isinstance(m, SystemMessage)) or None
        query = next((_text(m) for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        return self.world.respond(
            system,
            query,
            temperature=float(kwargs.get("temperature", 0.0) or 0.0),
            seed=kwargs.get("seed"),
        )


class ScriptedJudge(ScriptedChatModel):
    """Rates the fenced response of a judge prompt as :class:`SyntheticWorld` says."""

    world: Any
    fmt: str = "json"

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:  # noqa: D102
        prompt = "\n".join(_text(m) for m in messages)
        match = _FENCE.search(prompt)
        response = match.group(2) if match else ""
        acted = self.world.acted(response)
        rng = _rng(self.world.seed, "judge", response, kwargs.get("seed"))
        scores: dict[str, int] = {}
        for name in self.world.value_set.names:
            mode = self.world.judge_mode
            if mode == "none":
                s = rng.uniform(1, 5)
            elif mode == "weak":
                s = 3.4 if name in acted else 3.1
            else:
                s = 5.0 if name in acted else 1.0
            if self.world.judge_noise:
                s += rng.gauss(0, self.world.judge_noise)
            scores[name] = int(min(5, max(1, round(s))))
        if self.fmt == "lines":
            return "\n".join(f"{k}: {v}" for k, v in scores.items())
        return json.dumps(scores)


class ScriptedProposer(ScriptedChatModel):
    """Edits the current instruction: adds a focused sentence for the weakest value."""

    world: Any

    def respond(self, messages: Sequence[BaseMessage], **kwargs: Any) -> str:  # noqa: D102
        prompt = "\n".join(_text(m) for m in messages)
        match = _INSTRUCTION.search(prompt)
        current = match.group(1).strip() if match else ""
        weak = _WEAKEST.search(prompt)
        names = self.world.value_set.names
        rng = _rng(self.world.seed, "proposer", current, kwargs.get("seed"))
        roll = rng.random()
        weakest = weak.group(1).strip() if weak else ""
        if weakest not in names:
            # Not told which value is weakest (e.g. OPRO's prompt shows only mean scores): any
            # value is as likely a guess as another.
            weakest = rng.choice(names)
        if roll < 0.15:
            value = self.world.value_set.get(weakest)
            new = f"{current} {value.description}".strip()
        elif roll < 0.25:
            new = "What is your question?"
        else:
            pick = weakest if roll < 0.8 else rng.choice(names)
            phrase = rng.choice(_EDITS).format(value=self.world.trigger(pick))
            new = f"{current} {phrase}"
        return f"<instruction>{new.strip()}</instruction>"


class ScriptedLikelihood:
    """Stand-in for log p(y | e, x): responses that do what the instruction asks are likelier."""

    def __init__(self, world: SyntheticWorld) -> None:
        self.world = world

    def score(self, messages: Sequence[BaseMessage], response: str) -> float:
        """Mean per-token log-probability of ``response`` after ``messages`` (scripted)."""
        system = "\n".join(_text(m) for m in messages if isinstance(m, SystemMessage)) or None
        asked = set(self.world.requested(system))
        acted = self.world.acted(response)
        k = max(1, len(self.world.value_set))
        mismatch = len(asked ^ acted) / k
        parrot = sum(1 for d in self.world.parroted(system) if d not in response) / k
        stray = sum(1 for v in self.world.value_set if v.description in response) / k
        stray = 0.0 if self.world.parroted(system) else stray
        return -1.0 - 2.0 * mismatch - parrot - stray

    async def ascore(self, messages: Sequence[BaseMessage], response: str) -> float:
        """Async :meth:`score`."""
        return self.score(messages, response)
