"""Reading Dockerfiles (no Docker engine runs here, so tests read the files).

:func:`dockerfile_instructions` gives a file's instructions, :func:`dockerfile_stages` groups
them by build stage, :func:`flags` separates an instruction's ``--flag=value`` options from
its arguments, and :func:`shell_commands` / :func:`pip_installs` split a RUN's shell text into
the simple commands it runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The component images' Dockerfiles (context: the repository root).
COMPONENT_DOCKERFILES = sorted((ROOT / "images").glob("*.Dockerfile"))
#: Every Dockerfile of the repository: the component images and the MLflow server's.
DOCKERFILES = [*COMPONENT_DOCKERFILES, ROOT / "mlflow" / "Dockerfile"]

#: Shell operators that end one simple command in a RUN.
_SEPARATORS = {"&&", "||", ";", "|", "(", ")"}


@dataclass
class Stage:
    """One build stage: its base (``FROM`` image or earlier stage), its ``AS`` name, its body."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        """The arguments of every ``keyword`` instruction of the stage, in order."""
        return [args for kw, args in self.instructions if kw == keyword]


def dockerfile_instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    return [(text.partition(" ")[0].upper(), text.partition(" ")[2].strip()) for text in logical]


def dockerfile_stages(dockerfile: Path) -> list[Stage]:
    """The build stages in file order; instructions before the first FROM (global ARGs) are dropped."""
    stages: list[Stage] = []
    for keyword, args in dockerfile_instructions(dockerfile):
        if keyword == "FROM":
            _, words = flags(args)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append((keyword, args))
    return stages


def flags(args: str) -> tuple[dict[str, list[str]], list[str]]:
    """Leading ``--name=value`` options of an instruction (``RUN --mount=…``, ``COPY --from=…``)
    as {name: [values]}, and the remaining words."""
    words = args.split()
    options: dict[str, list[str]] = {}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        options.setdefault(name, []).append(value)
    return options, words


def shell_commands(run_args: str) -> list[list[str]]:
    """The simple commands of a RUN's shell form (its ``--`` options dropped), as word lists;
    a redirection stays in its command (``[…, ">", "file"]``)."""
    _, words = flags(run_args)
    lexer = shlex.shlex(" ".join(words), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for word in lexer:
        if word in _SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    return [command for command in commands if command]


def pip_installs(instructions: list[tuple[str, str]]) -> list[list[str]]:
    """Argument lists (after ``pip install``) of every pip install in the RUN instructions, in order."""
    return [command[2:] for keyword, args in instructions if keyword == "RUN"
            for command in shell_commands(args) if command[:2] == ["pip", "install"]]
