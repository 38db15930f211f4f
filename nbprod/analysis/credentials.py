"""Hard-coded credentials in notebook cells: found before they can reach a generated file or the model card."""

from __future__ import annotations

import ast
import re
from typing import Iterator

__all__ = ["find_credentials"]

_NAME = re.compile(r"(pass(word|wd)?|secret|token|api_?key|access_?key|private_?key|credential|auth)", re.I)
_VALUE = [
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("an API secret key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a password in a URL", re.compile(r"://[^/\s:@]+:[^/\s@]{3,}@")),
]
_PLACEHOLDERS = {"", "changeme", "xxx", "none", "null", "todo", "<secret>", "your-api-key", "..."}


def _is_literal(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.strip().lower() not in _PLACEHOLDERS
    )


def find_credentials(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, what) for every hard-coded credential.

    A credential is a literal assigned to (or passed as) a secret-looking name, or a string in a known key format.
    """
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and _is_literal(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                name = t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else None
                if name and _NAME.search(name):
                    yield node.lineno, f"a literal assigned to {name!r}"
        elif isinstance(node, ast.keyword) and node.arg and _NAME.search(node.arg) and _is_literal(node.value):
            yield node.value.lineno, f"a literal passed as {node.arg}="
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for what, pattern in _VALUE:
                if pattern.search(node.value):
                    yield node.lineno, what
                    break
