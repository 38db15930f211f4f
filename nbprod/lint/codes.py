"""The lint codes: one table of every check nbprod runs, its severity and what it looks for.

Codes are stable. NB0xx: tags and pipeline structure (from the planner); NB1xx: state and names;
NB2xx: reproducibility; NB3xx: portability; NB4xx: step boundaries.
"""

from __future__ import annotations

from nbprod.notebook.findings import ERROR, INFO, WARNING

__all__ = ["CHECKS"]

#: code -> (severity, what it checks). The table is documentation and the source of truth for severities.
CHECKS: dict[str, tuple[str, str]] = {
    "NB001": (ERROR, "tag looks like nbprod's but does not parse (with did-you-mean)"),
    "NB002": (INFO, "Kale cluster tag kept but ignored locally"),
    "NB010": (ERROR, "no step: tags and no '## ' headings"),
    "NB011": (ERROR, "conflicting tags on one cell"),
    "NB012": (ERROR, "step modifiers on a cell before the first step"),
    "NB013": (WARNING, "a step name comes back after other steps: that run of cells becomes a step of its own"),
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
    "NB305": (
        INFO,
        "display, timing or capture magic (%matplotlib, %config, %load_ext, %time, %%capture): runs or not needed",
    ),
    "NB306": (WARNING, "shell command (!cmd, files = !ls): runs in the pipeline, needs the same programs there"),
    "NB401": (WARNING, "code cell outside every step"),
    "NB402": (WARNING, "a step mutates data another step produced"),
    "NB403": (WARNING, "exec/eval of computed code: the names it reads or binds cannot cross steps"),
    "NB404": (WARNING, "os.chdir in one step does not carry to the steps after it"),
    "NB405": (WARNING, "a step acts on pyplot's current figure drawn in an earlier step"),
    "NB407": (WARNING, "star import of a module nbprod cannot list: its names do not cross steps"),
    "NB408": (WARNING, "two names for one object, one changed in a later step: the other does not see it there"),
    "NB409": (
        ERROR,
        "a generator, open file or connection is handed to a later step: it cannot be saved between steps",
    ),
    "NB410": (WARNING, "a definition keeps state between calls (class attribute, mutable default, cache): per step"),
    "NB411": (WARNING, "a set iterated in the step that builds it and again in a later step: the order may differ"),
    "NB412": (WARNING, "id() or `is` on a value handed on from an earlier step: it is a new object in each step"),
    "NB413": (WARNING, "a named logger configured in a way nbprod cannot replay, used by a later step"),
    "NB414": (WARNING, "_, __, Out[n], In[n] read where the cell that made that history is in another step"),
}
