"""Reading a Dockerfile's instructions (no Docker engine runs here, so tests read the files)."""

from __future__ import annotations

from pathlib import Path


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
