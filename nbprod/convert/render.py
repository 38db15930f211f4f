"""Convert a planned notebook into ``pipelines/<name>/``: ``pipeline.yaml``, one task script per step, a card.

Everything is rendered to strings first (deterministic, relative paths, no timestamps), then written
atomically: a convert that fails leaves the previous folder exactly as it was.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import yaml

from nbprod._core.fsutil import replace_dir
from nbprod._core.layout import ProjectLayout
from nbprod.analysis.magics import HELP, MAGIC, TIMED, cell_magic, is_install, line_magic
from nbprod.analysis.rng import NUMPY, RANDOM, RNG_STATE, is_rng_state
from nbprod.convert.capture import captured_cell
from nbprod.convert.markers import LOAD_BLOCK, SAVE_BLOCK, UPSTREAM_PREFIX, cell_header
from nbprod.convert.readme import render_card
from nbprod.errors import ConvertError
from nbprod.notebook.reader import Cell, read_notebook
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline, Step
from nbprod.plan.params import derived_statements

__all__ = [
    "ConvertResult",
    "convert",
    "render_pipeline",
    "product_paths",
]

#: Task parameter holding the digest of the data files a step reads, so that a changed file re-runs the step.
INPUTS_PARAM = "nbprod_inputs"
_EDIT_HINT = "Edit the notebook, not this file"
#: Saved in place of a value the producing step may leave unbound; the consuming step deletes the name on loading it.
UNBOUND = "<nbprod: unbound>"


@dataclass
class ConvertResult:
    plan: Pipeline
    out_dir: Path
    files: dict[str, str]
    changed: bool


def _comment(text: str) -> str:
    return "\n".join(("# " + line).rstrip() for line in text.split("\n"))


def _task_code(cell: Cell) -> str:
    """The cell's code as it runs in the pipeline: IPython magics and shell lines are commented out."""
    source = cell.source.rstrip("\n")
    lines = source.split("\n")
    opening = cell_magic(lines)
    if opening is not None:
        if opening.runs:
            at = opening.line
            body = lines[at + 1 :]
            if not _parses("\n".join(body)):  # magics, shell and help lines inside a %%time body
                body = [_task_line(line) for line in body]
            captured = captured_cell(opening, body)
            if captured is not None:
                return "\n".join(lines[:at] + captured)
            return "\n".join(lines[:at] + [f"# nbprod: cell magic {opening.text} not run in the pipeline"] + body)
        return "\n".join(["# nbprod: cell magic, not run in the pipeline:"] + ["# " + ln for ln in lines])
    if _parses(source):
        return source
    return "\n".join(_task_line(line) for line in lines)


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
        return True
    except (SyntaxError, ValueError):
        return False


def _shell(command: str) -> Optional[str]:
    """``!cmd`` as the IPython call that runs it (every step runs in IPython: a kernel, or ploomber-engine's shell);
    None for an install (``!pip install``: it belongs in the requirements, lint says so) or a ``%`` magic."""
    if not command.startswith("!") or command.startswith("!!") or is_install(command):
        return None
    return repr(command[1:].strip())


def _task_line(line: str) -> str:
    found = line_magic(line)
    if found is None:
        return line
    if found.kind == HELP:
        return f"{found.indent}pass  # nbprod: help request not run in the pipeline: {found.text}"
    if found.kind == TIMED:
        return f"{found.indent}{found.command}  # nbprod: %time dropped, the statement runs"
    if found.kind == MAGIC:
        cmd = _shell(found.text)
        if cmd is not None:  # a shell command runs as in the notebook
            return f"{found.indent}get_ipython().system({cmd})  # nbprod: {found.text}"
        return f"{found.indent}pass  # nbprod: IPython magic not run in the pipeline: {found.text}"
    cmd = _shell(found.command)
    if cmd is not None:
        return f"{found.target}get_ipython().getoutput({cmd})  # nbprod: {found.command}"
    return f"{found.target}None  # nbprod: shell output not run in the pipeline: {found.command}"


def _cell_block(cell: Cell, label: str) -> str:
    return f"{cell_header(label, cell.index)}\n{_task_code(cell)}\n"


def _derived_block(plan: Pipeline, cell: Cell) -> str:
    """A parameters cell that derives values: its derived statements run, its literals (the step's parameters, set
    above) are commented out, line for line, so that line numbers still match the notebook's cell."""
    a = plan.analyses[cell.index]
    lines = a.cleaned.rstrip("\n").split("\n")
    derived = {id(s) for s in derived_statements(a)}
    for stmt in a.tree.body if a.tree is not None else ():
        if id(stmt) not in derived:
            for no in range(stmt.lineno - 1, stmt.end_lineno or stmt.lineno):
                lines[no] = "# " + lines[no] if lines[no].strip() else lines[no]
    return f"{cell_header('shared parameters', cell.index)}\n" + "\n".join(lines) + "\n"


def render_task(plan: Pipeline, step: Step, nb_rel: str, order: dict[str, int]) -> str:
    parts = [
        "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n#     language: python\n#     name: python3\n# ---\n",
        "# %% [markdown]\n"
        + _comment(
            f"Step `{step.name}` of pipeline `{plan.name}`, generated by nbprod from `{nb_rel}`.\n"
            f"{_EDIT_HINT}: `nbprod convert {nb_rel}` regenerates it."
        )
        + "\n",
    ]
    upstream = sorted(step.upstream, key=order.__getitem__)
    params = [f"{UPSTREAM_PREFIX}{upstream!r}" if upstream else f"{UPSTREAM_PREFIX}None", "product = None"]
    params += [f"{p} = {plan.parameters[p]!r}" for p in plan.parameters if p in step.params]
    if step.input_files:
        params.append(f"{INPUTS_PARAM} = ''  # digest of {', '.join(step.input_files)}, set by nbprod run")
    parts.append('# %% tags=["parameters"]\n' + "\n".join(params) + "\n")
    shared = []
    for cell in step.shared_cells:
        if cell.has("parameters"):
            shared.append(_derived_block(plan, cell))
            continue
        role = (
            next(t.kind for t in cell.tags if t.kind in ("imports", "functions", "serve")) if cell.tags else "imports"
        )
        shared.append(_cell_block(cell, f"shared {role}"))
    loads = []
    if step.extra_imports or step.extra_defs:
        lines = ["# %%", "# nbprod: imports and functions this step uses from other steps' cells"]
        lines += step.extra_imports
        for src, idx in step.extra_defs:
            lines += ["", f"# from cell {idx}", src]
        loads.append("\n".join(lines) + "\n")
    if step.inputs:
        loads.insert(len(loads) if not step.defs_after_inputs else 0, _load_block(plan, step, order))
    parts += (loads + shared) if step.inputs_first else (shared + loads)
    if step.settings:
        where = list(dict.fromkeys(str(i) for _, i in step.settings))
        cells = ("cells " if len(where) > 1 else "cell ") + ", ".join(where)
        lines = ["# %%", f"# nbprod: library settings made by earlier steps ({cells} of the notebook)"]
        # a last expression would be shown (np.seterr returns the old settings): the notebook showed it once
        parts.append("\n".join(lines + [src for src, _ in step.settings] + ["None"]) + "\n")
    for cell in step.code_cells:
        parts.append(_cell_block(cell, f"step {step.name}"))
    if step.outputs or step.metrics:
        parts.append(_save_block(step))
    return "\n".join(parts)


_RNG_MODULE = {RNG_STATE[NUMPY]: "numpy.random", RNG_STATE[RANDOM]: "random"}
_RNG_SET = {RNG_STATE[NUMPY]: "numpy.random.set_state", RNG_STATE[RANDOM]: "random.setstate"}
_RNG_GET = {RNG_STATE[NUMPY]: "numpy.random.get_state", RNG_STATE[RANDOM]: "random.getstate"}


def _together(groups: list[list[str]], names: list[str]) -> list[list[str]]:
    """The groups of ``names`` (in their order) that are handed on together: two or more of one group."""
    out = []
    for group in groups:
        members = [n for n in names if n in group]
        if len(members) > 1:
            out.append(members)
    return out


def _save_block(step: Step) -> str:
    lines = ["# %%", SAVE_BLOCK]
    together = _together(step.together, [n for n in step.outputs if n not in step.maybe_bound])
    grouped = {n for g in together for n in g}
    imports = (["save_value"] if set(step.outputs) - grouped else []) + (["save_together"] if together else [])
    imports += ["save_metrics"] if step.metrics else []
    lines.append(f"from nbprod.io import {', '.join(imports)}")
    for group in together:  # one object seen through several names: pickled in one file, shared when loaded
        lines.append(f"save_together({{{', '.join(f'{n!r}: {n}' for n in group)}}}, product)")
    for name in step.outputs:
        if name in grouped:
            continue
        if is_rng_state(name):
            lines += [f"import {_RNG_MODULE[name]}", f"save_value({_RNG_GET[name]}(), product[{name!r}])"]
        elif name in step.maybe_bound:  # bound only on some paths: hand on exactly what the step leaves
            lines.append(f"save_value(globals().get({name!r}, {UNBOUND!r}), product[{name!r}])  # maybe unbound")
        else:
            lines.append(f"save_value({name}, product[{name!r}])")
    if step.metrics:
        pairs = ", ".join(f"{m!r}: {m}" for m in step.metrics)
        lines.append(f"save_metrics({{{pairs}}}, product['metrics'])")
    return "\n".join(lines) + "\n"


def _load_block(plan: Pipeline, step: Step, order: dict[str, int]) -> str:
    names = sorted(step.inputs, key=lambda n: (order[step.inputs[n]], n))
    together = [
        group
        for p in sorted(set(step.inputs.values()), key=order.__getitem__)
        for group in _together(plan.step(p).together, [n for n in names if step.inputs[n] == p])
        if not any(n in plan.step(p).maybe_bound for n in group)
    ]
    grouped = {n: g for g in together for n in g}
    imports = (["load_value"] if set(names) - set(grouped) else []) + (["load_together"] if together else [])
    lines = ["# %%", LOAD_BLOCK, f"from nbprod.io import {', '.join(imports)}"]
    for name in names:
        producer = step.inputs[name]
        if name in grouped:  # saved together by the producer: loaded together, sharing what they shared
            group = grouped[name]
            if name == group[0]:
                paths = ", ".join(f"upstream[{producer!r}][{n!r}]" for n in group)
                lines.append(f"{', '.join(group)} = load_together({paths})")
            continue
        if is_rng_state(name):  # a seeded global generator continues the stream where step `producer` left it
            lines += [f"import {_RNG_MODULE[name]}", f"{_RNG_SET[name]}(load_value(upstream[{producer!r}][{name!r}]))"]
            continue
        lines.append(f"{name} = load_value(upstream[{producer!r}][{name!r}])")
        if name in plan.step(producer).maybe_bound:  # the producer left it unbound: so does this step
            lines += [f"if isinstance({name}, str) and {name} == {UNBOUND!r}:", f"    del {name}"]
    return "\n".join(lines) + "\n"


def step_products(plan: Pipeline, step: Step, rel_products: str) -> dict[str, str]:
    prods = {"nb": f"{rel_products}/{step.name}.ipynb"}
    for name in step.outputs:
        prods[name] = f"{rel_products}/{step.name}/{name}"
    if step.metrics:
        prods["metrics"] = f"{rel_products}/{step.name}/metrics.json"
    return prods


def product_paths(plan: Pipeline, project: Path) -> dict[str, dict[str, Path]]:
    """Every step's products as absolute paths: {step: {product key: path}} (the same paths pipeline.yaml names)."""
    layout = ProjectLayout(project)
    out = layout.pipeline_dir(plan.name)
    rel = Path(os.path.relpath(layout.products_dir(plan.name), out)).as_posix()
    return {s.name: {k: (out / v).resolve() for k, v in step_products(plan, s, rel).items()} for s in plan.steps}


class _Dumper(yaml.SafeDumper):
    """PyYAML writes NEL and the Unicode line separators raw in plain and single-quoted scalars, and reads them back
    as spaces: such strings are written double-quoted, where they are escaped (``\\N``, ``\\L``, ``\\P``)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(ch in value for ch in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render_yaml(plan: Pipeline, nb_rel: str, rel_products: str) -> str:
    tasks = []
    for step in plan.steps:
        task: dict = {
            "source": f"tasks/{step.name}.py",
            "name": step.name,
            "executor": "ploomber-engine",
            "static_analysis": "disable",
            "product": step_products(plan, step, rel_products),
        }
        params = {p: plan.parameters[p] for p in plan.parameters if p in step.params}
        if step.input_files:
            params[INPUTS_PARAM] = ""
        if params:
            task["params"] = params
        tasks.append(task)
    data = {"meta": {"extract_upstream": True, "extract_product": False}, "tasks": tasks}
    header = (
        f"# Ploomber pipeline `{plan.name}`, generated by nbprod from {nb_rel}.\n"
        f"# {_EDIT_HINT}: `nbprod convert {nb_rel}` regenerates it; `nbprod run {nb_rel}` builds it.\n"
    )
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)
    return header + text


def render_pipeline(plan: Pipeline, project: Path) -> dict[str, str]:
    """Every file of the pipeline folder, as ``{relative path: text}``."""
    layout = ProjectLayout(project)
    nb_rel = layout.relpath(plan.notebook.abspath or plan.notebook.path)
    out = layout.pipeline_dir(plan.name)
    rel_products = Path(os.path.relpath(layout.products_dir(plan.name), out)).as_posix()
    order = {s.name: i for i, s in enumerate(plan.steps)}
    files = {"pipeline.yaml": render_yaml(plan, nb_rel, rel_products)}
    for step in plan.steps:
        files[f"tasks/{step.name}.py"] = render_task(plan, step, nb_rel, order)
    files["README.md"] = render_card(plan, nb_rel, {s.name: step_products(plan, s, rel_products) for s in plan.steps})
    return files


def _same(out: Path, files: dict[str, str]) -> bool:
    if not out.is_dir():
        return False
    existing = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    if existing != set(files):
        return False
    return all((out / rel).read_bytes() == text.encode("utf-8") for rel, text in files.items())


def write_atomically(out: Path, files: dict[str, str]) -> bool:
    """Write ``files`` as the whole content of ``out`` (one folder swap). Returns False when nothing changed."""
    if _same(out, files):
        return False

    def fill(tmp: Path) -> None:
        for rel, text in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConvertError(
            f"cannot write to {out.parent}: {exc.strerror}",
            path=str(out),
            fix="check that the folder is writable and the disk has space",
        ) from exc
    try:
        replace_dir(out, fill)
    except OSError as exc:
        raise ConvertError(
            f"writing {out.name}/ failed: {exc.strerror or exc}",
            path=str(out),
            fix="check free disk space and permissions; the previous folder was left as it was",
        ) from exc
    return True


def convert(
    notebook: Union[str, Path], *, project: Union[str, Path] = ".", name: Optional[str] = None, split: str = "auto"
) -> ConvertResult:
    """Convert ``notebook`` into ``<project>/pipelines/<name>/``. Raises an :class:`NbprodError` on bad input."""
    project = Path(project)
    layout = ProjectLayout(project)
    nb = read_notebook(notebook, display_path=layout.relpath(notebook))
    plan = build_plan(nb, name=name, split=split, strict=True)
    files = render_pipeline(plan, project)
    out = layout.pipeline_dir(plan.name)
    changed = write_atomically(out, files)
    return ConvertResult(plan, out, files, changed)
