"""One in-process llama.cpp server per model file, shared by every chat model in the process.

xllamacpp runs llama.cpp's server inside this Python process and opens its OpenAI-compatible HTTP
listener on the loopback interface. This module owns that listener: it starts at most one server per
model file (a thread-safe registry), binds it to ``127.0.0.1`` on a port the kernel picks (so it is
always free), protects it with a random per-process API key (other users of the machine can reach
loopback ports too), disables the web UI and the slots endpoint, and stops every server at exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from langchain_picaco.errors import ConfigError, MissingDependencyError, ModelCallError
from langchain_picaco.llm.local.demo_model import ModelFileError

__all__ = ["LocalServer", "ServerSettings", "default_threads", "get_server", "shutdown_all"]

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
"""The only interface the server listens on."""

# llama.cpp's CPU backend runs on OpenMP, whose idle workers busy-wait by default. When the model
# uses every core and another process competes for them, the spinning threads steal time from the
# ones doing work. Measured on 2 cores, one judge call (~450 prompt + 31 output tokens): at load
# 8-10, 39-56 s wall / 17-22 CPU-s by default vs 14-20 s / 7-8 CPU-s with PASSIVE. PASSIVE costs
# speed on a quiet machine (decoding ~25 instead of ~35-40 tok/s), so it is only the default where
# the default thread count takes every core (<= 2 cores). It must be set before the OpenMP runtime
# loads (first import of xllamacpp); a value the user set wins (ACTIVE = always spin).
PASSIVE_WAIT_MAX_CORES = 2
"""On machines with at most this many cores, ``OMP_WAIT_POLICY`` defaults to ``PASSIVE``."""
if (os.cpu_count() or 1) <= PASSIVE_WAIT_MAX_CORES:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def default_threads() -> int:
    """Return the default CPU thread count: ``min(2, os.cpu_count())``.

    Two threads is the sweet spot for the 0.5B model on small machines; more threads than free cores
    makes llama.cpp's thread barriers spin and can slow a call down tenfold under outside load.
    """
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class ServerSettings:
    """Settings fixed when a server starts (per-request settings live on the chat model).

    Attributes:
        n_ctx: Context size in tokens shared by all slots. Keep it small: the KV cache and the
            attention cost grow with it (4096 is twice as fast as the model's native 32768 here).
        n_threads: CPU threads for generation and prompt processing.
        n_parallel: Number of slots (requests decoded together). One is best on two cores.
        poll: How hard idle worker threads busy-wait (llama.cpp's ``--poll``, 0..100). llama.cpp
            defaults to 50; 0 costs nothing on an idle machine and makes calls faster and steadier
            when other processes compete for the cores.
        cache_ram_mib: Host-memory prompt cache, used only by requests sent with
            ``cache_prompt=True``.
        extra: Further ``xllamacpp.CommonParams`` attributes, set as given; dotted names reach
            nested ones (``("cpuparams.poll", 0)``).
    """

    n_ctx: int = 4096
    n_threads: int = field(default_factory=default_threads)
    n_parallel: int = 1
    poll: int = 0
    cache_ram_mib: int = 256
    extra: tuple[tuple[str, Any], ...] = ()


def _set_option(params: Any, option: str, value: Any) -> None:
    """Set a (possibly dotted, e.g. ``"cpuparams.poll"``) ``CommonParams`` attribute."""
    *parents, leaf = option.split(".")
    target = params
    for part in parents:
        target = getattr(target, part, None)
    if target is None or not hasattr(target, leaf):
        raise ConfigError(
            f"server option {option!r}",
            "is not an xllamacpp.CommonParams attribute",
            "check the spelling against xllamacpp's params reference",
        )
    setattr(target, leaf, value)


class LocalServer:
    """A running in-process llama.cpp server bound to ``127.0.0.1``.

    Do not build one directly; use :func:`get_server` (or
    :func:`langchain_picaco.llm.local.start_local_model`), which shares one server per model file.

    Attributes:
        model_path: The GGUF file it serves.
        name: The model name responses report.
        settings: The settings it was started with.
        base_url: ``http://127.0.0.1:<port>`` (without ``/v1``).
        api_key: Random key required by every endpoint except ``/health``.
    """

    def __init__(self, model_path: Path, settings: ServerSettings, name: str | None = None) -> None:
        try:
            import xllamacpp
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise MissingDependencyError("The embedded local model (xllamacpp)", "local") from err
        self.model_path = model_path
        self.settings = settings
        self.name = name or model_path.stem
        self.api_key = secrets.token_urlsafe(24)
        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.model_alias = {self.name}  # what responses report as "model" (not the path)
        params.n_ctx = settings.n_ctx
        params.n_parallel = settings.n_parallel
        params.kv_unified = settings.n_parallel > 1
        params.cpuparams.n_threads = settings.n_threads
        params.cpuparams_batch.n_threads = settings.n_threads
        params.cpuparams.poll = settings.poll
        params.cpuparams_batch.poll = settings.poll
        params.cache_ram_mib = settings.cache_ram_mib
        params.hostnames = [LOOPBACK]
        params.port = 0  # the kernel picks a free port at bind time: no race with other programs
        params.api_keys = [self.api_key]
        params.ui = False
        params.endpoint_slots = False
        params.offline = True
        params.warmup = False
        params.verbosity = -1
        for option, value in settings.extra:
            _set_option(params, option, value)
        try:
            self._server: Any = xllamacpp.Server(params)
        except Exception as err:
            raise ModelFileError(
                str(model_path),
                f"llama.cpp could not load it ({err})",
                "pass a GGUF file of an architecture llama.cpp supports, and check that n_ctx "
                "and server_options are valid",
            ) from err
        self.base_url = str(self._server.listening_address).rstrip("/")
        host = urlsplit(self.base_url).hostname
        if host != LOOPBACK:  # pragma: no cover - a guard against a changed xllamacpp default
            self.close()
            raise ModelCallError("local", f"server bound to {host}, expected {LOOPBACK}")

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(urlsplit(self.base_url).port or 0)

    @property
    def running(self) -> bool:
        """Whether the server is still up."""
        return getattr(self, "_server", None) is not None

    @property
    def raw(self) -> Any:
        """The underlying ``xllamacpp.Server`` (for benchmarks and low-level calls)."""
        if self._server is None:
            raise ModelCallError("local", f"the server for {self.model_path} was closed")
        return self._server

    def close(self) -> None:
        """Stop the server, free the model and the port. Safe to call twice."""
        server, self._server = getattr(self, "_server", None), None
        if server is not None:
            del server  # xllamacpp stops the listener and frees the model in its destructor
        with _REGISTRY_LOCK:
            if _REGISTRY.get(self.model_path) is self:
                del _REGISTRY[self.model_path]

    def __repr__(self) -> str:
        state = self.base_url if self.running else "closed"
        return f"LocalServer({self.model_path.name!r}, {state})"


_REGISTRY: dict[Path, LocalServer] = {}
_REGISTRY_LOCK = threading.RLock()


def get_server(
    model_path: str | os.PathLike[str], settings: ServerSettings, name: str | None = None
) -> LocalServer:
    """Return the shared server for ``model_path``, starting it on first use.

    A second request for the same file reuses the running server; if it asks for different start-up
    settings, a warning is logged and the running server's settings win (close it first to change
    them).

    Args:
        model_path: A GGUF file.
        settings: Start-up settings.
        name: Model name the server reports (default: the file stem); fixed at first start.

    Returns:
        The running server.
    """
    path = Path(model_path).expanduser().resolve()
    with _REGISTRY_LOCK:
        server = _REGISTRY.get(path)
        if server is not None and server.running:
            if server.settings != settings:
                logger.warning(
                    "reusing the running local server for %s started with %s (asked for %s); "
                    "close() it first to change start-up settings",
                    path.name,
                    server.settings,
                    settings,
                )
            return server
        server = LocalServer(path, settings, name)
        _REGISTRY[path] = server
        return server


def shutdown_all() -> None:
    """Stop every server started in this process (registered with ``atexit``)."""
    with _REGISTRY_LOCK:
        servers = list(_REGISTRY.values())
    for server in servers:
        server.close()


atexit.register(shutdown_all)
