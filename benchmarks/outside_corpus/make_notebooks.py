"""Generate the outside corpus: notebooks/*.ipynb (run with the project's .venv/bin/python)."""
import json
import pathlib
import sys

import nbformat

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import nbs_part1  # noqa: E402

PARTS = [nbs_part1]
try:
    import nbs_part2  # noqa: E402
    PARTS.append(nbs_part2)
except ImportError:
    pass


def main():
    out = HERE / "notebooks"
    out.mkdir(exist_ok=True)
    index = {}
    only = set(sys.argv[1:])
    for part in PARTS:
        for name, (shape, nb_cells) in part.NB.items():
            if only and part.__name__ not in only:
                continue
            from nbdsl import notebook
            nb = notebook(nb_cells)
            nbformat.validate(nb)
            nbformat.write(nb, str(out / f"{name}.ipynb"))
            n_sections = sum(1 for c in nb_cells if c.cell_type == "markdown" and any(l.startswith("## ") for l in c.source.splitlines()))
            index[name] = {"shape": shape, "sections": n_sections, "cells": len(nb_cells)}
    if not only:
        (HERE / "notebooks" / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True))
    print(len(index), "notebooks")


if __name__ == "__main__":
    main()
