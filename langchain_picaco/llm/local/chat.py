"""``ChatLocalLlama``: LangChain's ``ChatOpenAI`` pointed at the in-process llama.cpp server.

llama.cpp's server speaks the OpenAI chat-completions protocol, so the well-tested ``ChatOpenAI``
client gives invoke, ainvoke, stream, batch, structured output, log-probabilities and usage metadata
without any custom protocol code. This subclass only adds what the local runtime needs: the
llama.cpp-only request options (``cache_prompt``, ``grammar``, ...), exact token counting with the
model's own tokenizer, an identity without the port, and ``close()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool
from pydantic import Field, PrivateAttr

from langchain_picaco.errors import MissingDependencyError, ModelCallError
from langchain_picaco.llm.local.demo_model import (
    DEMO_MODEL,
    DEMO_MODEL_NAME,
    PINNED_MODELS,
    ModelFileError,
    local_model_path,
)
from langchain_picaco.llm.local.server import (
    LocalServer,
    ServerSettings,
    default_threads,
    get_server,
)

try:
    import httpx
    from langchain_openai import ChatOpenAI
    from langchain_openai.chat_models.base import _convert_message_to_dict
except ImportError as _err:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("The embedded local model (langchain-openai)", "local") from _err

__all__ = ["LLAMA_CPP_REQUEST_OPTIONS", "ChatLocalLlama", "start_local_model"]

LLAMA_CPP_REQUEST_OPTIONS = frozenset(
    {
        "cache_prompt",
        "grammar",
        "json_schema",
        "n_probs",
        "post_sampling_probs",
        "top_k",
        "min_p",
        "typical_p",
        "repeat_penalty",
        "repeat_last_n",
        "samplers",
        "n_keep",
        "ignore_eos",
    }
)
"""llama.cpp request fields that the OpenAI client does not know; they travel in ``extra_body``."""


class ChatLocalLlama(ChatOpenAI):
    """A GGUF model run in this process by llama.cpp, as a LangChain chat model.

    Build it with :func:`start_local_model`, which starts (or reuses) the loopback server. It is a
    ``ChatOpenAI``, so everything ``ChatOpenAI`` does works, talking to ``127.0.0.1`` only.

    Request options that matter here:

    * Token log-probabilities: ``model.bind(logprobs=True, top_logprobs=5)``; they come back in
      ``AIMessage.response_metadata["logprobs"]`` in OpenAI's format
      ``{"content": [{"token", "logprob", "top_logprobs": [{"token", "logprob"}, ...]}, ...]}``
      (llama.cpp adds ``id`` and ``bytes``). The values are the model's raw next-token
      distribution, before any grammar or sampler, so they stay meaningful under constraints.
    * JSON constrained by a schema, any of these (all compile to a llama.cpp grammar):
      ``model.with_structured_output(PydanticModel)`` (method ``"json_schema"``, the default);
      ``model.bind(response_format={"type": "json_schema", "json_schema": {"name": "x",
      "schema": {...}}})``; or llama.cpp's own ``{"type": "json_object", "schema": {...}}``.
      ``with_structured_output(..., method="json_mode")`` sends no schema, so it is not
      constrained to your fields: prefer the two above.
    * A raw GBNF grammar: ``model.bind(grammar='root ::= "yes" | "no"')``.
    * ``cache_prompt`` (default ``False``): with it on, a request reuses the KV cache of the longest
      prompt prefix seen before (about 1.8x faster for a judge prompt whose first 60% is shared),
      but the reused part was computed in different batches, so log-probabilities differ by up to
      ~0.02 nats from an uncached call and greedy text can change. Keep it off where results must be
      repeatable; turn it on per call with ``model.bind(cache_prompt=True)``.
    * ``seed`` and ``temperature`` are sent with every request (defaults 0 and 0.0: greedy).

    ``close()`` stops the shared server of this model file, for every model using it.

    Example:
        >>> from langchain_picaco.llm.local import start_local_model
        >>> llm = start_local_model()  # doctest: +SKIP
        >>> llm.invoke("Say hi").content  # doctest: +SKIP
        'Hello! How can I assist you today?'
        >>> msg = llm.bind(logprobs=True, top_logprobs=3).invoke("2+2=")  # doctest: +SKIP
        >>> msg.response_metadata["logprobs"]["content"][0]["top_logprobs"]  # doctest: +SKIP
    """

    model_name: str = Field(default=DEMO_MODEL_NAME, alias="model")
    """Identity of the model (file stem, or the pinned model's name); never includes the port."""
    model_path: str = ""
    """The GGUF file served."""
    cache_prompt: bool = False
    """Default of llama.cpp's ``cache_prompt`` for every request (see the class docstring)."""
    use_responses_api: bool | None = False
    """llama.cpp is driven through chat completions."""
    stream_usage: bool | None = True
    """Report token usage when streaming too."""

    _server: LocalServer | None = PrivateAttr(default=None)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """A live local server cannot be restored from a serialized form."""
        return False

    @property
    def _llm_type(self) -> str:
        return "llamacpp-local"

    @property
    def server(self) -> LocalServer | None:
        """The shared in-process server, if this model was started by :func:`start_local_model`."""
        return self._server

    @property
    def server_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the server (without ``/v1``)."""
        return str(self.openai_api_base or "").removesuffix("/").removesuffix("/v1")

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llamacpp"
        return params

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict:
        llama_opts = {"cache_prompt": self.cache_prompt}
        for key in list(kwargs):
            if key in LLAMA_CPP_REQUEST_OPTIONS:
                llama_opts[key] = kwargs.pop(key)
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        payload["extra_body"] = {**llama_opts, **(payload.get("extra_body") or {})}
        return payload

    # -- exact token counting with the model's own tokenizer (no tiktoken, no network) --

    def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self.openai_api_key.get_secret_value() if self.openai_api_key else ""
        headers = {"Authorization": f"Bearer {key}"}
        try:
            resp = httpx.post(
                f"{self.server_url}{route}", json=body, headers=headers, timeout=60, trust_env=False
            )
            resp.raise_for_status()
        except httpx.HTTPError as err:
            raise ModelCallError("local", f"{route} failed: {err}") from err
        return resp.json()

    def get_token_ids(self, text: str) -> list[int]:
        """Tokenize ``text`` with the model's own tokenizer (no special tokens added)."""
        if self.custom_get_token_ids is not None:
            return self.custom_get_token_ids(text)
        out = self._post("/tokenize", {"content": text, "add_special": False})
        return [t if isinstance(t, int) else int(t["id"]) for t in out["tokens"]]

    def get_num_tokens_from_messages(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[dict[str, Any] | type | Callable | BaseTool] | None = None,
        **kwargs: Any,
    ) -> int:
        """Count the prompt tokens of ``messages`` exactly, chat template included.

        ``tools`` are not counted.
        """
        prompt = self.apply_chat_template(messages)
        out = self._post("/tokenize", {"content": prompt, "add_special": True})
        return len(out["tokens"])

    def apply_chat_template(self, messages: Sequence[BaseMessage]) -> str:
        """Render ``messages`` with the model's chat template, ending with the assistant header.

        Args:
            messages: The conversation so far.

        Returns:
            The prompt text the model sees before it writes the assistant turn.
        """
        dicts = [_convert_message_to_dict(m) for m in messages]
        return str(self._post("/apply-template", {"messages": dicts})["prompt"])

    # ------------------------------------------------------------------ PICACO hooks
    supports_logprobs: bool = True
    """Judge calls ask for digit log-probabilities (graded scores) under judge_logprobs="auto"."""
    picaco_judge_protocol: str = "per_value"
    """What ``judge_protocol="auto"`` uses without a calibration: small local judges see values
    one question at a time far better than in one rubric reply (docs/calibration.md)."""

    def picaco_question_kwargs(self, kind: str) -> dict[str, Any]:
        """Per-value question options: a one-token answer under a grammar, prompt cache on.

        The answer's log-probabilities are read before the grammar applies, so the grammar only
        guarantees a parsable reply. Every question about one value starts with the same system
        message and value description (about half its prompt); with ``cache_prompt`` the server
        reuses that prefix from its host-memory cache: measured on the 1.5B judge, 6.0 s instead
        of 11.3-13.0 s a call, with scores that moved by at most 0.12 on 1..5 (docs/calibration.md).
        """
        from langchain_picaco.scoring.questions import question_grammar

        return {"max_tokens": 1, "grammar": question_grammar(kind), "cache_prompt": True}

    def picaco_judge_kwargs(self, schema: dict[str, Any], fmt: str) -> dict[str, Any]:
        """Judge-call options: the ratings constrained to ``schema`` by a llama.cpp grammar.

        The grammar costs nothing measurable here (docs/local-model.md) and guarantees a reply
        that parses; ``max_tokens`` is capped because the reply is one short JSON object.
        """
        kwargs: dict[str, Any] = {"max_tokens": 16 + 12 * len(schema.get("properties", {}))}
        if fmt == "json":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "ratings", "schema": schema},
            }
        return kwargs

    def picaco_likelihood(self) -> Any:
        """A teacher-forcing likelihood scorer, so PICACO can use likelihood-mode selection."""
        from langchain_picaco.llm.local.likelihood import LocalLikelihood, supports_likelihood

        return LocalLikelihood(self) if supports_likelihood(self) else None

    def close(self) -> None:
        """Stop the shared server of this model file (every model using it stops working)."""
        if self._server is not None:
            self._server.close()


def start_local_model(
    model_path: str | os.PathLike[str] | None = None,
    *,
    n_ctx: int = 4096,
    n_threads: int | None = None,
    seed: int = 0,
    temperature: float = 0.0,
    max_tokens: int = 256,
    cache_prompt: bool = False,
    n_parallel: int = 1,
    server_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> ChatLocalLlama:
    """Start (or reuse) the in-process llama.cpp server for a GGUF file and return a chat model.

    One server runs per model file per process; every call for the same file shares it (start-up
    settings of the first call win) and it stops at interpreter exit or on ``.close()``.

    ``model_path`` selects the model: ``None`` or ``"local"`` for the 0.5B demo model (extra
    ``demo-model``), ``"local-1.5b"`` for the 1.5B model (extra ``judge-model``), anything else is
    a GGUF file. A pinned model is assembled and verified on first use and its ``model_name`` is
    its pinned name (e.g. ``"qwen2.5-coder-1.5b-instruct-q4_k_m"``); a file's is its stem. A
    spec is recognised only as a ``str`` equal to a key of ``PINNED_MODELS``; pass a ``Path`` (or
    ``"./local"``) for a file with such a name.

    Args:
        model_path: A pinned model's spec (``"local"``, ``"local-1.5b"``), a ``.gguf`` file, or
            ``None`` for the demo model.
        n_ctx: Context size in tokens (server start-up setting).
        n_threads: CPU threads; default ``min(2, os.cpu_count())`` (server start-up setting).
        seed: Sampling seed sent with every request.
        temperature: Sampling temperature (0 = greedy).
        max_tokens: Maximum tokens generated per call.
        cache_prompt: Default of llama.cpp's prompt cache for every request (see
            :class:`ChatLocalLlama`); off for repeatable results.
        n_parallel: Server slots decoded together (server start-up setting).
        server_options: Further ``xllamacpp.CommonParams`` attributes (server start-up settings).
        **kwargs: Passed to :class:`ChatLocalLlama` (any ``ChatOpenAI`` field, e.g. ``top_p``).

    Returns:
        A ready chat model.

    Raises:
        MissingDependencyError: xllamacpp/langchain-openai (extra ``local``) or the chosen pinned
            model's chunk packages (extra ``demo-model`` or ``judge-model``) are not installed.
        ModelFileError: The file is missing, a pinned model is corrupt, or llama.cpp could not
            load the file.

    Example:
        >>> from langchain_picaco.llm.local import start_local_model
        >>> llm = start_local_model(max_tokens=32)  # doctest: +SKIP
        >>> q = "Rate 1-5 how much 'I respect my elders.' values tradition. One digit."
        >>> llm.invoke(q).content  # doctest: +SKIP
        '4'
        >>> start_local_model("local-1.5b").model_name  # doctest: +SKIP
        'qwen2.5-coder-1.5b-instruct-q4_k_m'
    """
    if model_path is None:
        model_path = DEMO_MODEL.spec
    pinned = PINNED_MODELS.get(model_path) if isinstance(model_path, str) else None
    if pinned is not None:
        path, name = local_model_path(pinned.spec), pinned.name
    else:
        path = Path(model_path).expanduser()
        name = path.stem
        if not path.is_file():
            specs = ", ".join(repr(k) for k in PINNED_MODELS)
            raise ModelFileError(
                str(path),
                "model file not found",
                f"pass the path of a .gguf file or one of {specs}",
            )
    settings = ServerSettings(
        n_ctx=n_ctx,
        n_threads=n_threads if n_threads is not None else default_threads(),
        n_parallel=n_parallel,
        extra=tuple(sorted((server_options or {}).items())),
    )
    server = get_server(path, settings, name)
    kwargs.setdefault("model", server.name)
    model = ChatLocalLlama(
        base_url=f"{server.base_url}/v1",
        api_key=server.api_key,
        model_path=str(server.model_path),
        seed=seed,
        temperature=temperature,
        max_tokens=max_tokens,
        cache_prompt=cache_prompt,
        http_client=httpx.Client(trust_env=False),
        http_async_client=httpx.AsyncClient(
            trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)
        ),
        **kwargs,
    )
    model._server = server
    return model
