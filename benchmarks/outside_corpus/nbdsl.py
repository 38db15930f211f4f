"""Tiny helpers to write notebooks with nbformat."""
import nbformat as nbf

KS = {"name": "python3", "display_name": "Python 3", "language": "python"}


def md(text, tags=None):
    c = nbf.v4.new_markdown_cell(text.strip("\n"))
    if tags:
        c.metadata["tags"] = list(tags)
    return c


def code(src, tags=None, ec=None):
    c = nbf.v4.new_code_cell(src.strip("\n"))
    if tags:
        c.metadata["tags"] = list(tags)
    if ec is not None:
        c.execution_count = ec
    return c


def notebook(cells):
    nb = nbf.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = dict(KS)
    nb.metadata["language_info"] = {"name": "python"}
    return nb
