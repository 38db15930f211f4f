"""``nbprod lint``: what breaks when a notebook goes to production, each finding naming its cell and the fix.

Codes are stable. NB0xx: tags and pipeline structure (from the planner); NB1xx: state and names;
NB2xx: reproducibility; NB3xx: portability; NB4xx: step boundaries. Imports nothing heavy.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from nbprod.analysis.cells import BUILTINS
from nbprod.notebook.findings import ERROR, INFO, WARNING, Finding
from nbprod.notebook.reader import Cell, Notebook, read_notebook
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline

__all__ = ["LintReport", "lint", "lint_notebook", "render_text", "render_json", "CHECKS"]

#: code -> (severity, what it checks). The table is documentation and the source of truth for severities.
CHECKS: dict[str, tuple[str, str]] = {
    "NB001": (ERROR, "tag looks like nbprod's but does not parse (with did-you-mean)"),
    "NB002": (INFO, "Kale cluster tag kept but ignored locally"),
    "NB010": (ERROR, "no step: tags and no '## ' headings"),
    "NB011": (ERROR, "conflicting tags on one cell"),
    "NB012": (ERROR, "step modifiers on a cell before the first step"),
    "NB013": (ERROR, "duplicate (non-contiguous) step name"),
    "NB014": (ERROR, "after: names an unknown step"),
    "NB015": (ERROR, "steps form a cycle"),
    "NB016": (ERROR, "invalid step or pipeline name"),
    "NB020": (ERROR, "parameters cell holds something other than plain literal assignments"),
    "NB021": (ERROR, "a variable or parameter uses a name the generated task scripts reserve (upstream, product, ...)"),
    "NB100": (ERROR, "syntax error"),
    "NB101": (WARNING, "execution counts out of order or missing (hidden state)"),
    "NB102": (ERROR, "name used before the cell that defines it (notebook order)"),
    "NB103": (ERROR, "undefined name"),
    "NB104": (ERROR, "a step uses a name no earlier step, parameter, import or function defines"),
    "NB110": (ERROR, "gate:/model: names a variable the step never assigns"),
    "NB111": (ERROR, "require: names a metric no metrics cell assigns"),
    "NB201": (ERROR, "numpy global RNG used without a seed"),
    "NB202": (ERROR, "random module used without a seed"),
    "NB203": (ERROR, "estimator or splitter that takes random_state does not get one"),
    "NB204": (ERROR, "train_test_split without random_state"),
    "NB205": (ERROR, "random generator created without a seed"),
    "NB301": (ERROR, "absolute or user-specific path"),
    "NB302": (ERROR, "shell, %pip or other IPython magic in a cell not tagged skip"),
    "NB303": (ERROR, "star import"),
    "NB304": (ERROR, "hard-coded credential (password, token, API key) in a cell"),
    "NB401": (WARNING, "code cell outside every step"),
    "NB402": (WARNING, "a step mutates data another step produced"),
}

_NP_GLOBAL = {
    "rand",
    "randn",
    "randint",
    "random",
    "random_sample",
    "ranf",
    "sample",
    "choice",
    "shuffle",
    "permutation",
    "normal",
    "uniform",
    "binomial",
    "poisson",
    "exponential",
    "beta",
    "gamma",
    "standard_normal",
    "multivariate_normal",
    "lognormal",
    "laplace",
    "logistic",
    "geometric",
    "bytes",
    "integers",
}
_PY_RANDOM = {
    "random",
    "randint",
    "choice",
    "choices",
    "shuffle",
    "sample",
    "uniform",
    "gauss",
    "randrange",
    "normalvariate",
    "triangular",
    "betavariate",
    "expovariate",
}
#: scikit-learn (and friends') estimators and splitters whose results depend on random_state.
RANDOM_STATE_ESTIMATORS = frozenset(
    """RandomForestClassifier RandomForestRegressor ExtraTreesClassifier ExtraTreesRegressor GradientBoostingClassifier
    GradientBoostingRegressor HistGradientBoostingClassifier HistGradientBoostingRegressor DecisionTreeClassifier
    DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor BaggingClassifier BaggingRegressor AdaBoostClassifier
    AdaBoostRegressor IsolationForest RandomTreesEmbedding LogisticRegression SGDClassifier SGDRegressor Perceptron
    PassiveAggressiveClassifier PassiveAggressiveRegressor MLPClassifier MLPRegressor LinearSVC LinearSVR KMeans
    MiniBatchKMeans BisectingKMeans SpectralClustering GaussianMixture BayesianGaussianMixture PCA TruncatedSVD NMF
    MiniBatchNMF FastICA LatentDirichletAllocation TSNE IterativeImputer RBFSampler Nystroem SkewedChi2Sampler
    GaussianRandomProjection SparseRandomProjection ShuffleSplit StratifiedShuffleSplit GroupShuffleSplit
    RandomizedSearchCV HalvingRandomSearchCV RepeatedKFold RepeatedStratifiedKFold XGBClassifier XGBRegressor
    LGBMClassifier LGBMRegressor make_classification make_regression make_blobs make_moons make_circles
    resample""".split()
)
_SHUFFLE_SPLITTERS = {"KFold", "StratifiedKFold", "GroupKFold", "StratifiedGroupKFold"}
_PATH_RE = re.compile(
    r"^(?:/(?:Users|home|root|mnt|Volumes|tmp|var|opt|data|srv)(?:/|$)|[A-Za-z]:[\\/]|~(?:[\\/]|$)|\\\\[^\\])"
)
_ABS_FILE_RE = re.compile(r"^/[^/\s]+/[^\s]+$|^/[^/\s]+\.\w{1,5}$")
_INSTALL_RE = re.compile(r"^(?:%|!)\s*(?:pip|conda|mamba|apt|apt-get|uv)\b")


@dataclass
class LintReport:
    path: str
    findings: list[Finding]
    plan: Optional[Pipeline] = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _kw(call: ast.Call, name: str) -> Optional[ast.AST]:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _is_none(node: Optional[ast.AST]) -> bool:
    return node is None or (isinstance(node, ast.Constant) and node.value is None)


def _has_star_kwargs(call: ast.Call) -> bool:
    return any(k.arg is None for k in call.keywords)


class _Linter:
    def __init__(self, nb: Notebook, plan: Pipeline) -> None:
        self.nb = nb
        self.plan = plan
        self.findings: list[Finding] = list(plan.findings)
        skipped = {c.index for c in plan.skipped}
        self.pipeline_cells = [c for c in nb.cells if c.is_code and c.index not in skipped]
        self.skipped = skipped

    def add(self, code: str, cell: Optional[Cell], message: str, fix: str) -> None:
        self.findings.append(Finding(code, CHECKS[code][0], message, cell.ref if cell else None, fix))

    def execution_order(self) -> None:
        if not self.nb.has_execution_counts:
            return
        last, last_cell = 0, None
        for cell in self.nb.cells:
            if not cell.is_code or not cell.source.strip():
                continue
            if cell.execution_count is None:
                self.add(
                    "NB101",
                    cell,
                    "the cell was never executed in the saved session (no execution count)",
                    "restart the kernel and run all cells (Kernel > Restart & Run All), then save",
                )
                continue
            if cell.execution_count <= last:
                self.add(
                    "NB101",
                    cell,
                    f"executed out of order: count [{cell.execution_count}] after [{last}] in cell {last_cell}",
                    "restart the kernel and run all cells top to bottom, then save: outputs may depend on hidden state",
                )
            last, last_cell = cell.execution_count, cell.index

    def names(self) -> None:
        defined_at: dict[str, int] = {}
        order = [c for c in self.nb.cells if c.is_code]
        for cell in order:
            for n in self.plan.analyses[cell.index].defines:
                defined_at.setdefault(n, cell.index)
        defined: set[str] = set()
        fn_globals: list[tuple[Cell, str, set[str]]] = []
        for cell in order:
            a = self.plan.analyses[cell.index]
            if a.tree is None:
                continue
            for n in a.uses:
                if n in defined or n in BUILTINS:
                    continue
                if n in defined_at and defined_at[n] > cell.index:
                    self.add(
                        "NB102",
                        cell,
                        f"{n!r} is used before cell {defined_at[n]} defines it",
                        f"move the cell that defines {n!r} above this one: the notebook only works by running cells out of order",
                    )
                elif n not in defined_at:
                    self.add(
                        "NB103",
                        cell,
                        f"{n!r} is not defined anywhere in the notebook",
                        f"define {n!r} (or import it) in an earlier cell; it may exist only in a kernel's hidden state",
                    )
            defined.update(a.defines)
            fn_globals.extend((cell, f.name, f.globals_read) for f in a.functions.values())
        for cell, fname, globs in fn_globals:
            for n in sorted(globs):
                if n not in defined_at and n not in BUILTINS:
                    self.add(
                        "NB103",
                        cell,
                        f"function {fname!r} reads {n!r}, which is not defined anywhere in the notebook",
                        f"pass {n!r} as an argument or define it in an earlier cell",
                    )

    def randomness(self) -> None:
        steps = {c.index: s for s in self.plan.steps for c in s.code_cells}
        seeded_np: set[str] = set()
        seeded_py: set[str] = set()
        shared_scope = "<shared>"
        for cell in self.pipeline_cells:
            tree = self.plan.analyses[cell.index].tree
            if tree is None:
                continue
            scope = steps[cell.index].name if cell.index in steps else shared_scope
            calls = sorted(
                (n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset)
            )
            for call in calls:
                name = _dotted(call.func)
                tail = name.rsplit(".", 1)[-1]
                if name in ("np.random.seed", "numpy.random.seed"):
                    seeded_np.add(scope)
                elif name == "random.seed":
                    seeded_py.add(scope)
                elif name.startswith(("np.random.", "numpy.random.")) and tail in _NP_GLOBAL:
                    if scope not in seeded_np and shared_scope not in seeded_np:
                        self.add(
                            "NB201",
                            cell,
                            f"{name}() draws from numpy's global RNG, which is never seeded in this step",
                            "use rng = np.random.default_rng(seed) with a 'seed' parameter, and rng.<method>(...)",
                        )
                elif (
                    name
                    in (
                        "np.random.default_rng",
                        "numpy.random.default_rng",
                        "np.random.RandomState",
                        "numpy.random.RandomState",
                        "default_rng",
                        "random.Random",
                    )
                    and not call.args
                    and _is_none(_kw(call, "seed"))
                ):
                    self.add(
                        "NB205",
                        cell,
                        f"{name}() is created without a seed",
                        f"pass a seed: {name}(seed) with 'seed' a parameter",
                    )
                elif name.startswith("random.") and tail in _PY_RANDOM and name.count(".") == 1:
                    if scope not in seeded_py and shared_scope not in seeded_py:
                        self.add(
                            "NB202",
                            cell,
                            f"{name}() uses Python's global RNG, which is never seeded in this step",
                            "call random.seed(seed) first, or use random.Random(seed)",
                        )
                elif tail == "train_test_split":
                    shuffle = _kw(call, "shuffle")
                    no_shuffle = isinstance(shuffle, ast.Constant) and shuffle.value is False
                    if _is_none(_kw(call, "random_state")) and not no_shuffle and not _has_star_kwargs(call):
                        self.add(
                            "NB204",
                            cell,
                            "train_test_split(...) without random_state gives a different split on every run",
                            "add random_state=seed (a parameter) to train_test_split",
                        )
                elif tail in RANDOM_STATE_ESTIMATORS or (
                    tail in _SHUFFLE_SPLITTERS
                    and isinstance(_kw(call, "shuffle"), ast.Constant)
                    and _kw(call, "shuffle").value is True
                ):  # type: ignore[union-attr]
                    if _is_none(_kw(call, "random_state")) and not _has_star_kwargs(call):
                        self.add(
                            "NB203",
                            cell,
                            f"{tail}(...) takes random_state but does not get one: results change on every run",
                            f"add random_state=seed (a parameter) to {tail}(...)",
                        )

    def paths(self) -> None:
        for cell in self.pipeline_cells:
            tree = self.plan.analyses[cell.index].tree
            if tree is None:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 500:
                    value = node.value.strip()
                    if "\n" in value or "://" in value:
                        continue
                    if _PATH_RE.match(value) or _ABS_FILE_RE.match(value):
                        self.add(
                            "NB301",
                            cell,
                            f"absolute or user-specific path {value!r} will not exist on another machine",
                            "use a path relative to the notebook's folder (e.g. 'data/file.csv'), or make it a parameter",
                        )

    def magics(self) -> None:
        for cell in self.pipeline_cells:
            a = self.plan.analyses[cell.index]
            shown = [m for _, m in a.magics]
            if a.tree is not None:
                shown += [
                    _dotted(n.func) + "(...)"
                    for n in ast.walk(a.tree)
                    if isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr in ("system", "run_line_magic", "run_cell_magic")
                    and _dotted(n.func).startswith("get_ipython")
                ]
            for magic in shown:
                kind = (
                    "package install"
                    if _INSTALL_RE.match(magic)
                    else ("shell command" if magic.startswith("!") or "system" in magic else "IPython magic")
                )
                self.add(
                    "NB302",
                    cell,
                    f"{kind} {magic!r} in a pipeline cell is not run in production",
                    "tag the cell 'skip' (installs belong in requirements, not in the notebook)"
                    if kind != "IPython magic"
                    else "tag the cell 'skip', or remove the magic",
                )
            for module in a.star_imports:
                self.add(
                    "NB303",
                    cell,
                    f"'from {module} import *' hides which names the cell uses",
                    f"import the names you use: from {module} import name1, name2",
                )

    def boundaries(self) -> None:
        for cell in self.plan.outside:
            self.add(
                "NB401",
                cell,
                "code cell outside every step: it will not be part of the pipeline",
                "tag it with step:<name>, 'imports', 'functions', or 'skip'",
            )
        for step in self.plan.steps:
            for name in step.mutated_inputs:
                producer = step.inputs.get(name, "?")
                cell = next(
                    (c for c in step.code_cells if name in self.plan.analyses[c.index].mutates), step.first_cell
                )
                self.add(
                    "NB402",
                    cell,
                    f"step {step.name!r} changes {name!r} in place, which step {producer!r} produced",
                    f"work on a copy ({name} = {name}.copy()) or assign to a new name, so each step's product stays what it produced",
                )


def lint_notebook(nb: Notebook, *, split: str = "auto", name: Optional[str] = None) -> LintReport:
    plan = build_plan(nb, name=name, split=split, strict=False)
    linter = _Linter(nb, plan)
    linter.execution_order()
    linter.names()
    linter.randomness()
    linter.paths()
    linter.magics()
    linter.boundaries()
    unique = {(f.code, f.cell, f.message): f for f in linter.findings}
    return LintReport(nb.path, sorted(unique.values(), key=lambda f: f.sort_key), plan)


def lint(notebook: Union[str, Path], *, split: str = "auto", name: Optional[str] = None) -> LintReport:
    """Lint a notebook file. Raises :class:`~nbprod.errors.NotebookReadError` when it cannot be read."""
    return lint_notebook(read_notebook(notebook), split=split, name=name)


def render_text(report: LintReport) -> str:
    lines = []
    for f in report.findings:
        where = f"{report.path}:{f.cell.index}" if f.cell else report.path
        first = f" ({f.cell.first_line[:50]!r})" if f.cell and f.cell.first_line else ""
        lines.append(f"{where}{first}: {f.severity} {f.code} {f.message}")
        if f.fix:
            lines.append(f"    fix: {f.fix}")
    if report.plan is not None:
        lines += [f"note: {n}" for n in report.plan.notes]
    n_err, n_warn = len(report.errors), len(report.warnings)
    n_info = len(report.findings) - n_err - n_warn
    status = "clean" if not report.findings else f"{n_err} error(s), {n_warn} warning(s), {n_info} note(s)"
    lines.append(f"{report.path}: {status}")
    return "\n".join(lines)


def render_json(report: LintReport) -> str:
    return json.dumps(
        {
            "notebook": report.path,
            "findings": [f.to_dict() for f in report.findings],
            "summary": {"errors": len(report.errors), "warnings": len(report.warnings), "total": len(report.findings)},
        },
        indent=2,
        sort_keys=True,
    )
