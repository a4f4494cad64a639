"""LangGraph Studio: ``langgraph dev`` serves ``langgraph.json``'s graph and runs it over the API.

The test starts the real development server (``langgraph dev``) from the repository root on a free
loopback port, runs the optimiser graph on the scripted world through ``langgraph_sdk`` (the same
API LangGraph Studio uses), and checks the streamed node updates, the custom progress events and the
final state. It then stops the server and checks that nothing tried to leave the machine.

How "nothing left the machine" is checked, two ways at once:

* every proxy variable (``HTTP(S)_PROXY``, ``ALL_PROXY``) of the server points at a trap, a tiny
  HTTP server on 127.0.0.1 run by this test that records every request it gets (a ``CONNECT`` for
  HTTPS) and refuses it; ``NO_PROXY`` lets loopback traffic through;
* a ``sitecustomize`` module put first on the server's ``PYTHONPATH`` installs an audit hook
  (``sys.addaudithook``) that records, and refuses with ``ConnectionRefusedError``, every
  ``socket.connect`` to, and every name lookup of, a non-loopback address, so a client that
  ignores proxy variables is caught too.

Both lists must be empty. The CLI's analytics and version check are also switched off
(``LANGGRAPH_CLI_NO_ANALYTICS=1``, ``LANGGRAPH_NO_VERSION_CHECK=true``) and tracing is off.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).parent / "langgraph"
GRAPH_ID = "picaco"
SERVER_START_TIMEOUT = 180.0
RUN_TIMEOUT = 180.0

QUERIES = [
    "Should I move abroad for a better job even though my parents are getting old?",
    "My team wants to skip a safety check to meet a deadline. What should I do?",
    "How should I handle a disagreement with my older brother about the family business?",
]
SMALL_CONFIG = {
    "iterations": 2,
    "candidates": 2,
    "samples_per_query": 1,
    "minibatch": 3,
    "seed": 3,
}

_SITECUSTOMIZE = '''
"""Installed by tests/integration_tests/test_studio.py: refuse and record non-loopback traffic."""
import ipaddress as _ip
import json as _json
import os as _os
import sys as _sys

_LOG = _os.environ["PICACO_EGRESS_LOG"]
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}


def _is_local(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        addr = _ip.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return addr.is_loopback or addr.is_unspecified


def _record(kind, target):
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(_json.dumps({"kind": kind, "target": repr(target), "pid": _os.getpid()}) + "\\n")


def _hook(event, args):
    if event == "socket.connect":
        sock, address = args
        if isinstance(address, tuple) and address and not _is_local(address[0]):
            _record("connect", address)
            raise ConnectionRefusedError("non-loopback connection refused by the Studio test")
    elif event == "socket.getaddrinfo":
        host = args[0]
        if not _is_local(host):
            _record("getaddrinfo", host)
            raise ConnectionRefusedError("non-loopback name lookup refused by the Studio test")
    elif event == "socket.gethostbyname":
        if not _is_local(args[0]):
            _record("gethostbyname", args[0])
            raise ConnectionRefusedError("non-loopback name lookup refused by the Studio test")


_sys.addaudithook(_hook)
with open(_LOG + ".installed", "a", encoding="utf-8") as _f:
    _f.write(f"{_os.getpid()} {_sys.executable}\\n")
'''


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Trap(BaseHTTPRequestHandler):
    """A proxy that proxies nothing: it records each request and refuses it."""

    seen: list[str] = []

    def _refuse(self) -> None:
        type(self).seen.append(f"{self.command} {self.path}")
        self.send_response(403, "picaco studio test: outbound traffic refused")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_CONNECT = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def trap_proxy() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP proxy that records and refuses every request."""
    handler = type("Trap", (_Trap,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()


def _server_env(proxy: str, site_dir: Path, egress_log: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY") and not k.startswith(("LANGSMITH_", "LANGCHAIN_"))
    }
    env.update(
        {
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LANGGRAPH_NO_VERSION_CHECK": "true",
            "LANGSMITH_TRACING": "false",
            "LANGCHAIN_TRACING_V2": "false",
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(
                [str(site_dir), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "PICACO_EGRESS_LOG": str(egress_log),
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = proxy
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    return env


def _wait_ok(url: str, proc: subprocess.Popen[bytes], log: Path) -> float:
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < SERVER_START_TIMEOUT:
        if proc.poll() is not None:
            pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=2.0, trust_env=False).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"langgraph dev did not answer /ok in {SERVER_START_TIMEOUT}s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and everything it started (its own process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass


async def _run_over_api(url: str) -> tuple[list[str], list[dict[str, Any]], dict[str, Any], str]:
    from langgraph_sdk import get_client

    client = get_client(url=url, api_key=None)
    assistants = await client.assistants.search(graph_id=GRAPH_ID)
    assert assistants, "the server registered no assistant for the picaco graph"
    thread = await client.threads.create()
    nodes: list[str] = []
    custom: list[dict[str, Any]] = []
    errors: list[Any] = []
    async for part in client.runs.stream(
        thread["thread_id"],
        GRAPH_ID,
        input={"value_set": "confucianism-4", "queries": QUERIES},
        context={"target": "scripted", "config": SMALL_CONFIG},
        stream_mode=["updates", "custom"],
    ):
        if part.event == "updates" and isinstance(part.data, dict):
            nodes.extend(part.data)
        elif part.event == "custom":
            custom.append(part.data)
        elif part.event == "error":
            errors.append(part.data)
    assert not errors, f"the run failed on the server: {errors}"
    state = await client.threads.get_state(thread["thread_id"])
    return nodes, custom, state["values"], thread["thread_id"]


def test_langgraph_json_points_at_the_graph() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    assert config["python_version"] == "3.11"
    path, _, variable = config["graphs"][GRAPH_ID].partition(":")
    assert (ROOT / path).is_file() and variable == "graph"
    from langgraph_cli.config import get_unknown_keys, validate_config_file

    validated = validate_config_file(ROOT / "langgraph.json")
    assert validated["graphs"] == config["graphs"]
    assert not get_unknown_keys(config)


def test_graph_module_exports_a_compiled_graph() -> None:
    """The server loads the file by path and reads ``module.__dict__["graph"]`` (no __getattr__)."""
    import importlib.util

    from langgraph.pregel import Pregel

    path, _, variable = json.loads((ROOT / "langgraph.json").read_text())["graphs"][
        GRAPH_ID
    ].partition(":")
    spec = importlib.util.spec_from_file_location("_picaco_studio_graph", ROOT / path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert variable in module.__dict__, (
        f"{path} must bind {variable!r} at import: the LangGraph server reads the module's "
        "__dict__, which a module-level __getattr__ does not fill"
    )
    graph = module.__dict__[variable]
    assert isinstance(graph, Pregel) and graph.checkpointer is None


@pytest.mark.skipif(not LANGGRAPH.exists(), reason="langgraph-cli (extra 'studio') not installed")
def test_langgraph_dev_serves_and_runs_the_graph(
    trap_proxy: tuple[str, list[str]], tmp_path: Path
) -> None:
    proxy, proxied = trap_proxy
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    egress_log = tmp_path / "egress.jsonl"
    egress_log.touch()
    server_log = tmp_path / "server.log"
    had_api_dir = (ROOT / ".langgraph_api").exists()

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(LANGGRAPH), "dev", "--no-browser", "--no-reload"]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    with server_log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=_server_env(proxy, site_dir, egress_log),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    try:
        startup = _wait_ok(url, proc, server_log)
        t0 = time.monotonic()
        nodes, custom, values, thread_id = asyncio.run(
            asyncio.wait_for(_run_over_api(url), RUN_TIMEOUT)
        )
        run_seconds = time.monotonic() - t0
    finally:
        _stop(proc)
        if not had_api_dir:
            shutil.rmtree(ROOT / ".langgraph_api", ignore_errors=True)
    print(f"langgraph dev: /ok after {startup:.1f}s, run {run_seconds:.1f}s, thread {thread_id}")

    # The run went through the whole loop and its streamed updates name the graph's nodes.
    for node in ("prepare", "measure", "update_pools", "propose", "select", "decide", "finish"):
        assert node in nodes, f"no streamed update from node {node!r} (got {sorted(set(nodes))})"
    assert nodes[0] == "prepare" and nodes[-1] == "finish"
    # The context reached the nodes: the small config was used (2 rounds), not the default (10).
    assert values["iteration"] == SMALL_CONFIG["iterations"]
    assert values["stop_reason"] in ("iterations", "patience")
    assert values["instruction"].strip()
    assert values["queries"] == QUERIES
    final = values["final_scores"]
    assert set(final["per_value"]) == {"tradition", "conformity", "benevolence", "security"}
    assert final["n"] == len(QUERIES)
    # Custom stream events: sampled/scored per response, proposed per candidate, rounds, done.
    kinds = {(e.get("phase"), e.get("event")) for e in custom}
    assert ("reference", "sampled") in kinds and ("reference", "scored") in kinds
    assert ("propose", "proposed") in kinds
    rounds = [e for e in custom if e.get("phase") == "round"]
    assert [r["iteration"] for r in rounds] == list(range(1, SMALL_CONFIG["iterations"] + 1))
    assert custom[-1] == {"phase": "done", "stop_reason": values["stop_reason"]}
    calls = values["usage"]["calls_by_role"]
    assert calls["proposer"] == SMALL_CONFIG["iterations"] * SMALL_CONFIG["candidates"]

    # Nothing tried to leave the machine.
    assert proxied == [], f"requests reached the trap proxy: {proxied}"
    egress = [json.loads(line) for line in egress_log.read_text().splitlines() if line]
    assert egress == [], f"non-loopback network attempts: {egress}"
    # The audit hook really was active in the server (else the check above proves nothing).
    installed = Path(f"{egress_log}.installed")
    assert installed.exists() and installed.read_text().strip(), "the egress audit hook never ran"
