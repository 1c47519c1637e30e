"""Colour for people at a terminal, never for pipes, files or CI logs that did not ask for it.

The conventions tools share: NO_COLOR (any value) turns it off (no-color.org), FORCE_COLOR turns it
on where output is not a terminal, TERM=dumb means a terminal that cannot show it. Colour is
added after the text is made (and its secrets scrubbed), so it never changes what is said; it
is echoed with `color=on`, since click strips colour codes from what is not a terminal.
"""

from __future__ import annotations

import os
import sys

RESET = "\033[0m"
CODES = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36", "bold": "1", "dim": "2"}
# The first character of a diff line (gen.diff.semantic.format_change) -> its colour.
DIFF_SIGNS = {"+": "green", "-": "red", "~": "yellow", ">": "cyan"}
SEVERITIES = {"error": "red", "warning": "yellow", "info": "blue"}
# gen doctor's marks (gen.doctor.report.MARK), at the start of an indented line.
MARKS = {"pass": "green", "WARN": "yellow", "FAIL": "red", "skip": "dim"}


def enabled(stream=None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


def paint(text: str, colour: str, on: bool) -> str:
    return f"\033[{CODES[colour]}m{text}{RESET}" if on and text else text


def diff_line(line: str, on: bool) -> str:
    """A diff line coloured by its sign; a query's continuation lines ("    - expr") by theirs."""
    stripped = line.lstrip()
    colour = DIFF_SIGNS.get(stripped[:1])
    return paint(line, colour, on) if colour else line


def severity_line(line: str, on: bool) -> str:
    """A findings line that starts with its severity: the severity word coloured."""
    word = line.split(" ", 1)[0]
    colour = SEVERITIES.get(word)
    return paint(word, colour, on) + line[len(word):] if colour else line


def mark_line(line: str, on: bool) -> str:
    """A doctor line "  FAIL  object: reason": the mark coloured."""
    stripped = line.lstrip()
    word = stripped.split(" ", 1)[0]
    colour = MARKS.get(word)
    if not colour or not line.startswith("  "):
        return line
    indent = line[: len(line) - len(stripped)]
    return indent + paint(word, colour, on) + stripped[len(word):]
