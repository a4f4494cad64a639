"""Run the ``picaco`` command with the scripted world slowed down and every model call counted.

Used by the kill-and-resume test: ``python resume_worker.py COUNTER LATENCY picaco-args...``. Each
call a scripted model starts appends a line to the file ``COUNTER`` (written at once, so a SIGKILL
loses none) identifying the task and the request, and every scripted call takes ``LATENCY``
seconds, so the run is still going when the test kills it. Everything else is the real command
line.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

_TASK_KEYS = ("role", "phase", "iteration", "query", "sample", "arm", "candidate", "attempt")


class CountCalls(BaseCallbackHandler):
    """Appends one line per chat-model call: a fingerprint of the task and the request.

    The fingerprint hashes the call's trace metadata (role, phase, round, query, sample, arm,
    candidate, judge attempt), its messages and its sampling parameters, so the same call of the
    same task has the same line in a killed run and in its resumed run.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, metadata: Any = None, **kwargs: Any
    ) -> None:
        meta = {k: (metadata or {}).get(k) for k in _TASK_KEYS}
        params = kwargs.get("invocation_params") or {}
        request = {
            "task": meta,
            "messages": [[m.type, str(m.content)] for batch in messages for m in batch],
            "seed": params.get("seed"),
            "temperature": params.get("temperature"),
        }
        line = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


def main() -> int:
    counter, latency, *argv = sys.argv[1:]
    from langchain_picaco import cli
    from langchain_picaco.llm import models

    real = models.resources_for

    def resources_for(*args: Any, **kwargs: Any) -> Any:
        res = real(*args, **kwargs)
        for model in (res.target, res.judge, res.proposer):
            model.latency = float(latency)
            model.callbacks = [CountCalls(counter)]
        return res

    models.resources_for = resources_for
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
