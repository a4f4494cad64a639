"""Generate the notebooks in notebooks/ from reviewable Python sources in notebooks/src/.

Each ``notebooks/src/<name>.py`` is a plain Python file in the "percent" cell format::

    # %% [markdown]
    # # A title
    # Some prose.

    # %%
    print("a code cell")

Comment lines before the first marker (e.g. ``# ruff: noqa: E402``, since notebooks import where
they first need something) are a header and do not become a cell. The file becomes
``notebooks/<name>.ipynb`` (nbformat 4, kernel ``python3``, no outputs, stable cell
ids), so reviews happen on the ``.py`` file and the committed notebook never carries outputs.

Usage:
    .venv/bin/python tools/make_notebooks.py            # (re)write every notebook
    .venv/bin/python tools/make_notebooks.py --check    # exit 1 if any notebook is stale
    .venv/bin/python tools/make_notebooks.py 01_quickstart_inject   # only these
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
SRC_DIR = ROOT / "notebooks" / "src"
OUT_DIR = ROOT / "notebooks"

_MARKER = re.compile(r"^# %%(?:\s*\[(?P<kind>\w+)\])?\s*$")

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _strip_blank_edges(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _markdown_text(lines: list[str], source: Path, lineno: int) -> str:
    out = []
    for i, line in enumerate(lines):
        if line.strip() == "#":
            out.append("")
        elif line.startswith("# "):
            out.append(line[2:])
        elif not line.strip():
            out.append("")
        else:
            raise SystemExit(
                f"{source}:{lineno + i}: a markdown cell line must start with '# ' (got {line!r})"
            )
    return "\n".join(out)


def parse_cells(source: Path) -> list[tuple[str, str]]:
    """Split a percent-format file into ``(kind, text)`` cells, kind ``code`` or ``markdown``."""
    cells: list[tuple[str, str]] = []
    kind: str | None = None
    start = 0
    body: list[str] = []

    def flush() -> None:
        lines = _strip_blank_edges(body)
        if kind is None:  # the header: comments for reviewers and linters, not a cell
            if any(line.strip() and not line.startswith("#") for line in lines):
                raise SystemExit(f"{source}: code before the first '# %%' marker")
            return
        if not lines:
            return
        if kind == "markdown":
            cells.append(("markdown", _markdown_text(lines, source, start)))
        else:
            cells.append(("code", "\n".join(lines)))

    for lineno, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        match = _MARKER.match(line)
        if match:
            flush()
            found = (match.group("kind") or "code").lower()
            if found not in ("code", "markdown", "md"):
                raise SystemExit(f"{source}:{lineno}: unknown cell kind {found!r}")
            kind = "markdown" if found in ("markdown", "md") else "code"
            start, body = lineno + 1, []
        else:
            body.append(line)
    flush()
    if not cells:
        raise SystemExit(f"{source}: no cells (mark them with '# %%')")
    return cells


def build(source: Path) -> nbformat.NotebookNode:
    """Build the notebook for one source file (outputs empty, ids stable)."""
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
    }
    for i, (kind, text) in enumerate(parse_cells(source)):
        cell = new_markdown_cell(text) if kind == "markdown" else new_code_cell(text)
        cell.id = f"{source.stem[:48]}-{i:02d}".replace("_", "-")
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(source: Path) -> str:
    """The notebook file's exact text."""
    return nbformat.writes(build(source)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate notebooks/*.ipynb from notebooks/src.")
    parser.add_argument("names", nargs="*", help="notebook stems to build (default: all)")
    parser.add_argument("--check", action="store_true", help="fail if a notebook is stale")
    args = parser.parse_args(argv)

    sources = sorted(SRC_DIR.glob("*.py"))
    if args.names:
        wanted = set(args.names)
        sources = [s for s in sources if s.stem in wanted]
        missing = wanted - {s.stem for s in sources}
        if missing:
            parser.error(f"no source for: {', '.join(sorted(missing))} (looked in {SRC_DIR})")
    stale = []
    for source in sources:
        target = OUT_DIR / f"{source.stem}.ipynb"
        text = render(source)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(target)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        for target in stale:
            print(f"stale: {target.relative_to(ROOT)} (run tools/make_notebooks.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
