"""Resume an optimisation from a PostgreSQL checkpointer after the process was killed.

A throw-away PostgreSQL server is started for the module: ``initdb`` into a temporary directory
and ``pg_ctl start`` on a free port of 127.0.0.1 (as the ``postgres`` user when the tests run as
root, since the server refuses to run as root), with trust authentication for one local user and
``fsync`` off. It is stopped (``pg_ctl stop -m immediate``) and deleted afterwards. The tests skip,
saying why, only when the PostgreSQL server binaries are missing (``apt-get install postgresql``)
or the ``postgres`` extra is not installed.

The interrupted run happens in a child process that dies by ``SIGKILL`` on its third proposer
call (the start of round two), so nothing gets the chance to clean up: a hard crash. A new
optimiser in this process then resumes the same thread id.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

pytest.importorskip(
    "langgraph.checkpoint.postgres.aio", reason="the 'postgres' extra is not installed"
)

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver  # noqa: E402

from langchain_picaco import MetaInstruction, PicacoConfig, PicacoOptimizer, load_value_set  # noqa: E402
from langchain_picaco.testing import SyntheticWorld  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
QUERIES = [
    "Should I move abroad for a better job even though my parents are getting old?",
    "My team wants to skip a safety check to meet a deadline. What should I do?",
    "How should I handle a disagreement with my older brother about the family business?",
]
CONFIG = {
    "iterations": 3,
    "candidates": 2,
    "samples_per_query": 1,
    "minibatch": 3,
    "patience": 3,
    "selection": "sampling",
    "seed": 5,
}
KILL_AT_PROPOSER_CALL = 3  # the first proposer call of round two
PG_USER = "picaco"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    """Run a server command as ``postgres`` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *cmd]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL server on 127.0.0.1:<free port>, deleted after the module."""
    bindir = _pg_bin()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        )
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
    base = Path(tempfile.mkdtemp(prefix="picaco-pg-"))
    data, sock, log = base / "data", base / "sock", base / "server.log"
    sock.mkdir()
    if os.geteuid() == 0:
        for path in (base, sock):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ]
            ),
            **run,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
        options += " -c full_page_writes=off -c synchronous_commit=off"
        subprocess.run(
            _as_server_user(
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60"]
                + ["-o", options, "start"]
            ),
            **run,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc.stdout}\n{exc.stderr}")
    try:
        yield f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres?sslmode=disable"
    finally:
        subprocess.run(
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


# The child process: the same optimisation, which kills itself (SIGKILL) on a proposer call.
_CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langchain_picaco import PicacoOptimizer, load_value_set
    from langchain_picaco.testing import ScriptedProposer, SyntheticWorld

    url, thread_id, kill_at, config, queries = sys.argv[1], sys.argv[2], int(sys.argv[3]), \\
        eval(sys.argv[4]), eval(sys.argv[5])


    class DyingProposer(ScriptedProposer):
        def respond(self, messages, **kwargs):
            if self.calls >= kill_at:  # counted before respond() runs
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return super().respond(messages, **kwargs)


    async def main():
        values = load_value_set("confucianism-4")
        world = SyntheticWorld(values, seed=5)
        async with AsyncPostgresSaver.from_conn_string(url) as saver:
            await saver.setup()
            opt = PicacoOptimizer(world.target(), values=values, judge=world.judge(),
                                  proposer=DyingProposer(world=world), config=config,
                                  checkpointer=saver, progress=False)
            await opt.aoptimize(queries, thread_id=thread_id)
        print("finished without being killed")


    asyncio.run(main())
    """
)


def _world_optimizer(checkpointer: Any = None) -> tuple[PicacoOptimizer, SyntheticWorld, list[Any]]:
    values = load_value_set("confucianism-4")
    world = SyntheticWorld(values, seed=5)
    models = [world.target(), world.judge(), world.proposer()]
    opt = PicacoOptimizer(
        models[0],
        values=values,
        judge=models[1],
        proposer=models[2],
        config=PicacoConfig(**CONFIG),
        checkpointer=checkpointer,
        progress=False,
    )
    return opt, world, models


async def _optimize_on_postgres(url: str, thread_id: str) -> tuple[MetaInstruction, int]:
    """A new optimiser (fresh models) on ``thread_id``: the artifact and the calls it made."""
    async with AsyncPostgresSaver.from_conn_string(url) as saver:
        await saver.setup()
        opt, _, models = _world_optimizer(saver)
        mi = await opt.aoptimize(QUERIES, thread_id=thread_id)
    return mi, sum(m.calls for m in models)


async def _snapshot(url: str, thread_id: str) -> Any:
    async with AsyncPostgresSaver.from_conn_string(url) as saver:
        await saver.setup()
        opt, _, _ = _world_optimizer(saver)
        from langchain_picaco.optimizer.graph.builder import build_graph

        graph = build_graph(opt.resources, checkpointer=saver)
        return await graph.aget_state({"configurable": {"thread_id": thread_id}})


@pytest.fixture(scope="module")
def uninterrupted() -> MetaInstruction:
    opt, _, _ = _world_optimizer()
    return opt.optimize(QUERIES)


def _same_result(a: MetaInstruction, b: MetaInstruction) -> None:
    assert a.text == b.text
    assert a.stop_reason == b.stop_reason
    assert a.scores is not None and b.scores is not None
    assert a.scores.per_value == b.scores.per_value
    assert [h.instruction for h in a.history] == [h.instruction for h in b.history]


def test_resume_after_sigkill_gives_the_uninterrupted_result(
    postgres_url: str, uninterrupted: MetaInstruction, tmp_path: Path
) -> None:
    assert uninterrupted.usage.calls_by_role["proposer"] > KILL_AT_PROPOSER_CALL, (
        "the reference run must reach the kill point"
    )
    thread_id = f"killed-{uuid.uuid4()}"
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LANGSMITH_TRACING": "false"}
    child = subprocess.run(
        [sys.executable, str(script), postgres_url, thread_id, str(KILL_AT_PROPOSER_CALL)]
        + [repr(CONFIG), repr(QUERIES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, (
        f"the child was meant to die by SIGKILL; rc={child.returncode}\n{child.stdout}\n"
        f"{child.stderr[-3000:]}"
    )

    # What the crash left behind: a checkpoint part-way through the run.
    snapshot = asyncio.run(_snapshot(postgres_url, thread_id))
    # ``snapshot.tasks``, not ``snapshot.next``: a crash after every task of a step saved its
    # writes, but before the next checkpoint, leaves ``next`` empty on an unfinished run.
    assert snapshot.values and snapshot.tasks, "no resumable checkpoint was left behind"
    # (With LangGraph's default "async" durability the newest checkpoint may trail the crash by
    # a step, so the check is that round one's work was saved, not at which step exactly.)
    saved = snapshot.values
    assert saved["usage"]["calls"] > 0 and not saved.get("stop_reason")
    assert saved["usage"]["calls_by_role"].get("proposer", 0) < KILL_AT_PROPOSER_CALL
    assert not snapshot.values.get("stop_reason")

    # A new optimiser resumes it: same answer as the uninterrupted run, at a fraction of the calls.
    resumed, calls = asyncio.run(_optimize_on_postgres(postgres_url, thread_id))
    _same_result(resumed, uninterrupted)
    assert 0 < calls < uninterrupted.usage.calls
    # Work done before the crash is not counted twice, nor lost: the totals match.
    assert resumed.usage.calls_by_role == uninterrupted.usage.calls_by_role

    # Running the finished thread again costs nothing and returns the same artifact.
    again, calls_again = asyncio.run(_optimize_on_postgres(postgres_url, thread_id))
    assert calls_again == 0
    _same_result(again, uninterrupted)


def test_parallel_threads_do_not_mix(postgres_url: str, uninterrupted: MetaInstruction) -> None:
    """Several optimisations share one database: each thread keeps its own state."""

    async def both() -> list[tuple[MetaInstruction, int]]:
        async with AsyncPostgresSaver.from_conn_string(postgres_url) as saver:
            await saver.setup()
            runs = []
            for _ in range(2):
                opt, _, models = _world_optimizer(saver)
                runs.append((opt, models))
            tids = [f"parallel-{uuid.uuid4()}" for _ in runs]
            mis = await asyncio.gather(
                *(
                    opt.aoptimize(QUERIES, thread_id=t)
                    for (opt, _), t in zip(runs, tids, strict=True)
                )
            )
            return [
                (mi, sum(m.calls for m in models))
                for mi, (_, models) in zip(mis, runs, strict=True)
            ]

    for mi, calls in asyncio.run(both()):
        _same_result(mi, uninterrupted)
        assert calls == uninterrupted.usage.calls
