"""Strip outputs, execution counts and volatile metadata from notebooks, in place.

    python tools/clean_notebooks.py                     # clean notebooks/*.ipynb
    python tools/clean_notebooks.py a.ipynb b.ipynb     # clean these
    python tools/clean_notebooks.py --check             # exit 1 listing dirty notebooks; change nothing

Cell metadata keeps only `tags` (the `parameters` tag matters to papermill); notebook metadata becomes
exactly the kernel-neutral METADATA below. A notebook is "dirty" when cleaning would change its file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}
KEEP_CELL_METADATA = ("tags",)
ROOT = Path(__file__).resolve().parent.parent


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return `nb` cleaned in place: no outputs, no execution counts, only kept metadata."""
    nb.metadata = nbformat.from_dict(METADATA)
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict({k: cell.metadata[k] for k in KEEP_CELL_METADATA
                                            if cell.metadata.get(k)})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def cleaned_text(path: Path) -> str:
    """The file text `path` would have once cleaned."""
    nb = nbformat.read(path, as_version=4)
    return nbformat.writes(clean(nb)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="only report dirty notebooks (exit 1 if any)")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = []
    for path in paths:
        text = cleaned_text(path)
        if path.read_text(encoding="utf-8") != text:
            dirty.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check:
        for path in dirty:
            print(f"dirty: {path} (run: python tools/clean_notebooks.py {path})")
        return 1 if dirty else 0
    for path in dirty:
        print(f"cleaned {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
