"""Print the project's runtime dependencies (pyproject.toml) as a pip requirements file.

The image builds install the dependencies in a layer of their own, before the sources are
copied, so a change to the code does not reinstall them; this script is how that layer reads
them without the sources:

    python requirements.py pyproject.toml [--exclude NAME ...] > requirements.txt

Every dependency must be pinned with ``==`` (the images are reproducible builds); an unpinned
one fails the build with its name. ``--exclude`` drops a distribution the image replaces (the
CUDA image installs faiss-gpu-cu12 in place of faiss-cpu). Standard library only: it runs on
the builder's interpreter before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

# name, optional [extras], ==version, optional "; environment marker"
PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*[^\s;,*]+\s*(;.*)?$")


def normalise(name: str) -> str:
    """A distribution name in PEP 503 normal form (``Faiss_CPU`` -> ``faiss-cpu``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(pyproject: Path, exclude: Sequence[str] = ()) -> list[str]:
    """``[project].dependencies`` of ``pyproject``, without the ``exclude`` distributions.

    Raises ValueError naming every dependency that is not pinned with ``==``, and every
    ``exclude`` name that is not a dependency (a typo would otherwise silently keep it).
    """
    declared = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    unpinned = [dep for dep in declared if not PINNED.match(dep)]
    if unpinned:
        raise ValueError(f"{pyproject}: dependencies not pinned with '==': {', '.join(unpinned)}")
    names = {normalise(PINNED.match(dep)["name"]): dep for dep in declared}
    unknown = sorted({normalise(name) for name in exclude} - names.keys())
    if unknown:
        raise ValueError(f"{pyproject}: --exclude names no dependency: {', '.join(unknown)}")
    dropped = {normalise(name) for name in exclude}
    return [dep for name, dep in names.items() if name not in dropped]


def main(argv: list[str] | None = None) -> int:
    """Command line: the requirements on stdout, or the problem on stderr and exit status 2."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--exclude", action="append", default=[], metavar="NAME",
                        help="a dependency to leave out (repeatable)")
    args = parser.parse_args(argv)
    try:
        print("\n".join(requirements(args.pyproject, args.exclude)))
    except ValueError as error:
        print(f"requirements.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
