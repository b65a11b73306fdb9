"""Sections of README.md that commands write (between `<!-- NAME:start -->` and `<!-- NAME:end -->`),
so the numbers the README shows always come from a command, never from a keyboard."""

from __future__ import annotations

from pathlib import Path

from moebench.errors import UserError
from moebench.provenance import ROOT, atomic_write_bytes

README = ROOT / "README.md"


def replace_section(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise UserError(f"README.md has no {start} ... {end} section")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def section(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def write_section(name: str, body: str, path: Path = README) -> None:
    atomic_write_bytes(path, replace_section(path.read_text(), name, body).encode())
