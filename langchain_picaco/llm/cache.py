"""A persistent cache of model calls: :class:`SQLiteCallCache`.

A re-run, or a run resumed after a crash, asks the same questions again; with a call cache each
of them is answered from disk instead of by the model, so it costs no call, no token and no
budget. :class:`~langchain_picaco.llm.calls.ModelCaller` looks every call up before making it and
counts hits and misses in the run's usage.

The cache implements LangChain's ``BaseCache`` (``lookup`` / ``update`` / ``clear`` and their async
twins), so it can also serve as a global LangChain cache. What it stores:

* the key: a SHA-256 hash of the prompt and model strings, never the strings themselves (no
  prompt text and nothing of the model's settings can be read back from the file);
* the value: the generations as plain JSON (message type, content, token usage, response
  metadata such as log-probabilities). Reading them back builds message objects of the known
  LangChain message types only; it never imports or runs anything named in the file.

Writes are committed one by one (SQLite WAL journal), so a process killed with SIGKILL keeps every
answer it received.

Example:
    .. code-block:: python

        from langchain_picaco import PicacoOptimizer
        from langchain_picaco.llm.cache import SQLiteCallCache

        cache = SQLiteCallCache("calls.sqlite")
        opt = PicacoOptimizer(model, values="confucianism-4", cache=cache)
        mi = opt.optimize(queries)          # a second run of the same thing costs no calls
        print(mi.usage.cache_hits, mi.usage.cache_misses)
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import AIMessage, message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration, Generation

from langchain_picaco.errors import ConfigError

__all__ = ["CACHE_FORMAT", "SQLiteCallCache", "cache_key"]

CACHE_FORMAT = "langchain-picaco/call-cache/v1"
"""Written into every cache file; a file holding another format is refused."""

_SAFE_MESSAGE_TYPES = frozenset({"ai", "AIMessageChunk"})
"""Message types a cached generation may hold (a model's reply, nothing else)."""


def cache_key(prompt: str, llm_string: str) -> str:
    """The stored key of one call: SHA-256 of the model string and the prompt string.

    Args:
        prompt: The prompt, serialised.
        llm_string: The model and its call parameters, serialised.

    Returns:
        64 hex digits.
    """
    h = hashlib.sha256()
    h.update(llm_string.encode("utf-8"))
    h.update(b"\x00")
    h.update(prompt.encode("utf-8"))
    return h.hexdigest()


def _dump_generations(generations: Sequence[Generation]) -> str:
    items: list[dict[str, Any]] = []
    for g in generations:
        if isinstance(g, ChatGeneration):
            items.append({"kind": "chat", "message": message_to_dict(g.message)})
        else:
            items.append({"kind": "text", "text": g.text})
    return json.dumps({"format": CACHE_FORMAT, "generations": items}, ensure_ascii=False)


def _load_generations(raw: str) -> list[Generation] | None:
    """Generations from a stored row; None for anything unexpected (treated as a miss)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return None
    items = data.get("generations")
    if not isinstance(items, list) or not items:
        return None
    out: list[Generation] = []
    for item in items:
        if not isinstance(item, dict):
            return None
        if item.get("kind") == "text" and isinstance(item.get("text"), str):
            out.append(Generation(text=item["text"]))
            continue
        message = item.get("message")
        if (
            item.get("kind") != "chat"
            or not isinstance(message, dict)
            or message.get("type") not in _SAFE_MESSAGE_TYPES
        ):
            return None
        try:
            (msg,) = messages_from_dict([message])
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(msg, AIMessage):
            return None
        out.append(ChatGeneration(message=msg))
    return out


class SQLiteCallCache(BaseCache):
    """Model answers on disk, keyed by a hash of the model, its parameters and the messages.

    The file is opened on first use (an unused cache leaves no file behind) and may be shared by
    threads of one process; separate processes may share it too (SQLite locking).

    Example:
        .. code-block:: python

            cache = SQLiteCallCache("calls.sqlite")
            caller = ModelCaller(model, "judge", cache=cache)
            print(cache.stats())   # {"entries": ..., "hits": ..., "misses": ...}

    Args:
        path: The SQLite file (created with its folder when missing).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ connection
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        if self.path.is_dir():
            raise ConfigError(str(self.path), "is a folder", "give a file name like calls.sqlite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS picaco_meta (key TEXT PRIMARY KEY, value TEXT)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS picaco_calls "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
            )
            conn.execute(
                "INSERT OR IGNORE INTO picaco_meta (key, value) VALUES ('format', ?)",
                (CACHE_FORMAT,),
            )
            conn.commit()
            row = conn.execute("SELECT value FROM picaco_meta WHERE key = 'format'").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ConfigError(
                str(self.path),
                f"is not a langchain-picaco call cache ({exc})",
                "delete it or pass another cache file",
            ) from None
        if row is None or row[0] != CACHE_FORMAT:
            conn.close()
            raise ConfigError(
                str(self.path),
                f"holds a call cache of another format ({row[0] if row else None!r})",
                "delete it or pass another cache file",
            )
        self._conn = conn
        return conn

    def check(self) -> None:
        """Fail early on a path that cannot be a cache (a folder, or a file of something else).

        A missing file is fine: it is created on first use.

        Raises:
            ConfigError: Naming the path and the fix.
        """
        if self.path.is_dir():
            raise ConfigError(str(self.path), "is a folder", "give a file name like calls.sqlite")
        if self.path.exists():
            with self._lock:
                self._connect()

    def close(self) -> None:
        """Close the file (it is reopened on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ------------------------------------------------------------------ BaseCache
    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The cached generations of a call, or None on a miss."""
        key = cache_key(prompt, llm_string)
        with self._lock:
            conn = self._connect()
            row = conn.execute("SELECT value FROM picaco_calls WHERE key = ?", (key,)).fetchone()
            result = _load_generations(row[0]) if row is not None else None
            if result is None:
                self.misses += 1
            else:
                self.hits += 1
        return result

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations of a call (committed at once)."""
        key = cache_key(prompt, llm_string)
        value = _dump_generations(return_val)
        with self._lock:
            conn = self._connect()
            conn.execute(
                "INSERT OR REPLACE INTO picaco_calls (key, value, created) VALUES (?, ?, ?)",
                (key, value, time.time()),
            )
            conn.commit()

    def clear(self, **kwargs: Any) -> None:
        """Forget every cached call."""
        with self._lock:
            conn = self._connect()
            conn.execute("DELETE FROM picaco_calls")
            conn.commit()

    # SQLite answers a point query on a local file in well under a millisecond: the async
    # methods run in the caller's thread instead of hopping to an executor for each call.
    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """Async :meth:`lookup`."""
        return self.lookup(prompt, llm_string)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Async :meth:`update`."""
        self.update(prompt, llm_string, return_val)

    async def aclear(self, **kwargs: Any) -> None:
        """Async :meth:`clear`."""
        self.clear(**kwargs)

    # ------------------------------------------------------------------ info
    def __len__(self) -> int:
        with self._lock:
            conn = self._connect()
            return int(conn.execute("SELECT COUNT(*) FROM picaco_calls").fetchone()[0])

    def stats(self) -> dict[str, int]:
        """Entries on disk, and hits and misses of this object so far."""
        return {"entries": len(self), "hits": self.hits, "misses": self.misses}

    def __repr__(self) -> str:
        return f"SQLiteCallCache({str(self.path)!r})"
