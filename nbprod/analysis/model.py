"""What the analysis knows about one function or class a cell defines."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FunctionInfo"]


@dataclass
class FunctionInfo:
    name: str
    globals_read: set[str]
    source: str
    lineno: int
    globals_written: set[str] = field(default_factory=set)  # names it declares ``global`` and assigns
    builtins_read: set[str] = field(default_factory=set)  # builtin names it reads (the notebook may redefine them)
    globals_mutated: set[str] = field(default_factory=set)  # globals it may change in place (history.append(...))
    mutates_args: bool = True  # it may change an argument in place (unknown for a class: True)
