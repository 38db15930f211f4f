"""``%%capture [name]`` in a task script: the cell's body runs inside IPython's ``capture_output``, as the magic runs it
(what it prints is kept, not shown; ``name`` holds it, a value later steps may take)."""

from __future__ import annotations

import ast
from typing import Optional

from nbprod.analysis.magics import CellMagic

__all__ = ["captured_cell"]


def captured_cell(opening: CellMagic, body: list[str]) -> Optional[list[str]]:
    """``%%capture [name]`` as IPython runs it: the body inside ``capture_output`` (what it prints is kept, not shown;
    ``name`` holds it), on the magic's own line so the body keeps the cell's line numbers; a body that indenting
    would change (a string spanning lines) runs between entering and leaving the capture. None for another magic."""
    captured = opening.capture
    text = "\n".join(body)
    if captured is None or not text.strip():
        return None
    kwargs, name = captured
    make = f'__import__("IPython.utils.capture").utils.capture.capture_output({kwargs})'
    if _spans_lines(text):  # the body as it is, between entering and leaving the capture
        bound = f"{name} = " if name else ""
        enter = f"_nbprod_capture = {make}; {bound}_nbprod_capture.__enter__()  # nbprod: {opening.text}"
        return [
            enter,
            *body,
            "if _nbprod_capture.__exit__(None, None, None):  # a statement: shows nothing",
            "    pass",
        ]
    head = f"with {make}"
    lines = [("    " + line).rstrip() for line in body]
    if not ast.parse(text).body:  # only comments: a with needs a statement
        lines.append("    pass")
    return [head + (f" as {name}:" if name else ":") + f"  # nbprod: {opening.text}"] + lines


def _spans_lines(text: str) -> bool:
    """Whether a string or a backslash continuation spans lines (indenting the body would change it), or the text
    does not parse."""
    import io
    import tokenize

    try:
        ast.parse(text)
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (SyntaxError, tokenize.TokenError, ValueError):
        return True
    if any(line.endswith("\\") for line in text.split("\n")):
        return True
    return any(t.type == tokenize.STRING and t.start[0] != t.end[0] for t in tokens)
