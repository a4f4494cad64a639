"""Log-likelihood of a given response under the local model, by teacher forcing.

llama.cpp's server has no "prompt log-probabilities" option (no ``echo``, no ``prompt_logprobs``):
it only reports log-probabilities of tokens it generates. So the response is made the only thing it
*can* generate: it is tokenized with the model's own tokenizer, and a grammar made of exactly those
token ids (llama.cpp's ``<[id]>`` syntax) is sent with ``n_probs=1`` to the raw ``/completion``
endpoint, after the conversation rendered by the model's chat template. Each reported ``logprob``
is taken from the model's raw next-token distribution (``post_sampling_probs`` off), before the
grammar masks anything, so it is the true ``log p(y_t | x, y_<t)`` of the forced token: this is
exact teacher forcing, not an approximation. The cost is one decoding step per response token
(about 25 ms each for the 0.5B model on two cores) plus the prompt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import httpx
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableBinding

from langchain_picaco.errors import ModelCallError
from langchain_picaco.llm.local.chat import ChatLocalLlama

__all__ = ["LocalLikelihood", "supports_likelihood"]


def _unwrap(model: Any) -> Any:
    while isinstance(model, RunnableBinding):
        model = model.bound
    return model


def supports_likelihood(model: Any) -> bool:
    """Whether :class:`LocalLikelihood` can score text with ``model``.

    True for a :class:`ChatLocalLlama` (also inside ``.bind(...)``); False for any other chat
    model, for which the optimiser falls back to sampling mode.

    Args:
        model: Any LangChain chat model or runnable.

    Returns:
        True if teacher-forced log-likelihoods are available.
    """
    return isinstance(_unwrap(model), ChatLocalLlama)


class LocalLikelihood:
    """Length-normalised log-likelihood of a response as the assistant turn after some messages.

    ``score(messages, response)`` returns ``mean_t log p(y_t | messages, y_<t)`` over the response's
    tokens (natural log), with the conversation rendered by the model's chat template; higher means
    more likely. Scores of different responses are comparable because they are per-token means.

    Args:
        model: A local chat model from :func:`langchain_picaco.llm.local.start_local_model`.
        include_end: Also score the end-of-turn token after the response (the model's view that
            the answer is complete). Off by default, so a response cut at ``max_tokens`` is not
            penalised. An empty response always scores the end-of-turn token alone.
        cache_prompt: Reuse the KV cache of a shared prompt prefix (faster when many responses are
            scored after the same messages, but values then differ by ~1e-2 from an uncached
            call). Default: the model's own ``cache_prompt`` setting.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> from langchain_picaco.llm.local import LocalLikelihood, start_local_model
        >>> lik = LocalLikelihood(start_local_model())  # doctest: +SKIP
        >>> q = [HumanMessage("What is the capital of France?")]
        >>> lik.score(q, "Paris.") > lik.score(q, "Banana.")  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        model: ChatLocalLlama,
        *,
        include_end: bool = False,
        cache_prompt: bool | None = None,
    ) -> None:
        model = _unwrap(model)
        if not isinstance(model, ChatLocalLlama):
            raise TypeError(
                "LocalLikelihood needs a ChatLocalLlama (from "
                f"langchain_picaco.llm.local.start_local_model); got {type(model).__name__}. "
                "Use supports_likelihood(model) to check first."
            )
        self.model = model
        self.include_end = include_end
        self.cache_prompt = model.cache_prompt if cache_prompt is None else cache_prompt

    # -- request building and parsing, shared by the sync and async paths --

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.model.openai_api_key.get_secret_value()}"}

    def _forcing_body(self, prompt: str, ids: list[int]) -> dict[str, Any]:
        grammar = "root ::= " + (" ".join(f"<[{i}]>" for i in ids) if ids else '""')
        return {
            "prompt": prompt,
            "n_predict": len(ids) + (1 if self.include_end or not ids else 0),
            "grammar": grammar,
            "n_probs": 1,
            "post_sampling_probs": False,
            "temperature": 0.0,
            "seed": self.model.seed if self.model.seed is not None else 0,
            "cache_prompt": self.cache_prompt,
            "stream": False,
        }

    @staticmethod
    def _parse(result: dict[str, Any], ids: list[int]) -> list[float]:
        probs = result.get("completion_probabilities") or []
        got = [int(p["id"]) for p in probs]
        if got[: len(ids)] != ids:
            raise ModelCallError(
                "local", "teacher forcing failed: the server did not follow the forced tokens"
            )
        return [float(p["logprob"]) for p in probs]

    @staticmethod
    def _mean(logprobs: Sequence[float]) -> float:
        if not logprobs:
            raise ModelCallError("local", "teacher forcing returned no token log-probabilities")
        return math.fsum(logprobs) / len(logprobs)

    def _post(self, client: httpx.Client, route: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = client.post(
                f"{self.model.server_url}{route}", json=body, headers=self._headers()
            )
            resp.raise_for_status()
        except httpx.HTTPError as err:
            raise ModelCallError("local", f"{route} failed: {err}") from err
        return resp.json()

    async def _apost(
        self, client: httpx.AsyncClient, route: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            resp = await client.post(
                f"{self.model.server_url}{route}", json=body, headers=self._headers()
            )
            resp.raise_for_status()
        except httpx.HTTPError as err:
            raise ModelCallError("local", f"{route} failed: {err}") from err
        return resp.json()

    @staticmethod
    def _tokenize_body(response: str) -> dict[str, Any]:
        return {"content": response, "add_special": False, "parse_special": False}

    @staticmethod
    def _template_body(messages: Sequence[BaseMessage]) -> dict[str, Any]:
        from langchain_openai.chat_models.base import _convert_message_to_dict

        return {"messages": [_convert_message_to_dict(m) for m in messages]}

    @staticmethod
    def _ids(out: dict[str, Any]) -> list[int]:
        return [t if isinstance(t, int) else int(t["id"]) for t in out["tokens"]]

    # -- public API --

    def token_logprobs(self, messages: Sequence[BaseMessage], response: str) -> list[float]:
        """Per-token log-probabilities of ``response`` after ``messages`` (teacher forced).

        Args:
            messages: The conversation (system, user, ...), without the response.
            response: The assistant's answer to score.

        Returns:
            One natural-log probability per response token (plus the end-of-turn token when
            ``include_end`` is on or the response is empty).
        """
        with httpx.Client(timeout=600, trust_env=False) as client:
            prompt = self._post(client, "/apply-template", self._template_body(messages))["prompt"]
            ids = self._ids(self._post(client, "/tokenize", self._tokenize_body(response)))
            result = self._post(client, "/completion", self._forcing_body(prompt, ids))
        return self._parse(result, ids)

    async def atoken_logprobs(self, messages: Sequence[BaseMessage], response: str) -> list[float]:
        """Async version of :meth:`token_logprobs`."""
        async with httpx.AsyncClient(timeout=600, trust_env=False) as client:
            tmpl = await self._apost(client, "/apply-template", self._template_body(messages))
            ids = self._ids(await self._apost(client, "/tokenize", self._tokenize_body(response)))
            result = await self._apost(
                client, "/completion", self._forcing_body(tmpl["prompt"], ids)
            )
        return self._parse(result, ids)

    def score(self, messages: Sequence[BaseMessage], response: str) -> float:
        """Mean per-token log-probability of ``response`` as the assistant turn after ``messages``.

        Args:
            messages: The conversation, without the response.
            response: The assistant's answer to score.

        Returns:
            The length-normalised log-likelihood (a negative number; closer to 0 is more likely).
        """
        return self._mean(self.token_logprobs(messages, response))

    async def ascore(self, messages: Sequence[BaseMessage], response: str) -> float:
        """Async version of :meth:`score`."""
        return self._mean(await self.atoken_logprobs(messages, response))
