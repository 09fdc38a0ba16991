"""Helpers for reading what the CLI printed."""

from __future__ import annotations


def flat(printed: str) -> str:
    """Printed text as one line: panel borders gone and every run of spaces one space, so a
    phrase is found wherever the terminal width happened to wrap it."""
    return " ".join(printed.replace("│", " ").split())
