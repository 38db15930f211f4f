"""The ``nbprod`` command line: every verb, its options, and the help text (the tag list comes from the grammar)."""

from __future__ import annotations

import argparse

from nbprod import __version__

__all__ = ["build_parser"]

EPILOG = """\
the journey:
  nbprod lint NB       hardening findings, each naming the cell and the fix
  nbprod convert NB    write pipelines/<name>/ (pipeline.yaml, tasks/, README.md)
  nbprod run NB        build the pipeline incrementally (products under .nbprod/), checking gates
  nbprod verify NB     does the pipeline compute what the notebook computes top to bottom?
  nbprod expect NB     propose expectation suites for gate: tags from a good run
  nbprod package NB    bentos/<name>/ (service, bentofile, model card) and a built Bento
  nbprod serve NB      serve the built Bento on 127.0.0.1 (--champion: the released one)
                       --canary PCT [--shadow]: champion + candidate, automatic rollback
  nbprod monitor NB    the live service's drift per feature; exit 1 when an alert fires
                       (--log: its prediction log, offline; --picture; --retrain: a candidate on new data)
  nbprod review NB     HTML report for the reviewer; nbprod approve NB --by NAME records the decision
  nbprod release NB    promote the approved model (champion); rollback, status

tags (cell metadata, or a first line '# nbprod: step:train model:model'):
{tags}

`nbprod COMMAND --help` for a command's options; README.md for the whole journey.
"""

#: how a tag's value is written in the help (by tag, else by the kind of value)
_TAG_FORMS = {
    "after": "<step>",
    "gate": "<var>",
    "model": "<var>",
    "name": "<name>",
    "requirement": "<metric><op><number>",
    "card-field": "<field>",
}


def _epilog() -> str:
    """The help epilog; the tag list comes from the grammar itself, so it cannot drift from it."""
    from nbprod.notebook.tags import GRAMMAR

    forms = {n: n + (":" + _TAG_FORMS.get(n, _TAG_FORMS[s.value]) if s.value else "") for n, s in GRAMMAR.items()}
    width = max(map(len, forms.values()))
    return EPILOG.format(tags="\n".join(f"  {forms[n]:<{width}}  {s.doc}" for n, s in GRAMMAR.items()))


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook", help="the notebook (.ipynb or percent-format .py)")
    p.add_argument("--name", help="pipeline name (default: from the notebook's file name)")
    p.add_argument(
        "--split",
        choices=["auto", "tags", "headings"],
        default="auto",
        help="where steps come from: step: tags, '## ' headings, or auto (tags, else headings)",
    )
    p.add_argument("--project", default=".", help="project folder holding pipelines/ and .nbprod/ (default: .)")
    p.add_argument("-v", "--verbose", action="store_true", help="log nbprod's decisions (fast path, caches) to stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbprod",
        description="Turn a tagged Jupyter notebook into a linted, gated, tracked, servable pipeline.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nbprod {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    lint = sub.add_parser("lint", help="find what breaks in production, naming each cell")
    _add_common(lint)
    lint.add_argument("--format", choices=["text", "json"], default="text")
    convert = sub.add_parser("convert", help="write the Ploomber pipeline folder for a notebook")
    _add_common(convert)
    run = sub.add_parser("run", help="convert if needed, then build the pipeline incrementally")
    _add_common(run)
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    run.add_argument("--isolated", action="store_true", help="run each step in its own kernel (papermill)")
    run.add_argument("--force", action="store_true", help="re-run every step")
    run.add_argument(
        "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else SQLite under .nbprod/)"
    )
    run.add_argument("--no-track", action="store_true", help="do not log the run to MLflow")
    run.add_argument("--no-package", action="store_true", help="do not build the Bento after the gates pass")
    verify = sub.add_parser(
        "verify", help="run the notebook top to bottom and the pipeline step by step; compare what each step hands on"
    )
    _add_common(verify)
    verify.add_argument("--no-printed", action="store_true", help="compare values only, not printed output")
    verify.add_argument("--keep", metavar="DIR", help="keep both runs (notebook, values, scratch project) in DIR")
    package = sub.add_parser("package", help="write bentos/<name>/ and build the Bento of the last good run")
    _add_common(package)
    package.add_argument("--no-build", action="store_true", help="write bentos/<name>/ only")
    serve = sub.add_parser("serve", help="serve the built Bento on 127.0.0.1")
    _add_common(serve)
    serve.add_argument("--port", type=int, default=3000, help="port (default: BentoML's 3000)")
    serve.add_argument("--champion", action="store_true", help="serve the Bento of the released champion")
    serve.add_argument(
        "--canary",
        type=float,
        metavar="PCT",
        help="champion and the approved candidate in one Bento: PCT%% of the requests go to the candidate, rolled "
        "back automatically by the [tool.nbprod.canary] rule",
    )
    serve.add_argument("--shadow", action="store_true", help="with --canary: the candidate only scores, never answers")
    mon = sub.add_parser("monitor", help="the live service's drift per feature; exit 1 when an alert fires")
    _add_common(mon)
    mon.add_argument("--url", default="http://127.0.0.1:3000", help="the served Bento (default: http://127.0.0.1:3000)")
    mon.add_argument("--prometheus", metavar="URL", help="also the alerts this Prometheus fires for the pipeline")
    mon.add_argument(
        "--log",
        nargs="?",
        const="",
        metavar="PATH",
        help="read the service's prediction log offline instead (default: .nbprod/serving/<name>/)",
    )
    mon.add_argument("--window", type=int, default=1000, help="with --log: rows in the drift window (default 1000)")
    mon.add_argument(
        "--picture",
        nargs="?",
        const="",
        metavar="OUT",
        help="with --log: draw the drifted features, training vs live (.svg/.png; default: next to the log)",
    )
    mon.add_argument(
        "--retrain",
        action="store_true",
        help="when an alert fires, run the pipeline on new data: a candidate to review, never released",
    )
    mon.add_argument("--data-param", metavar="NAME", help="with --retrain: the parameter holding the data file's path")
    mon.add_argument("--data", metavar="FILE", help="with --retrain: the new training data")
    mon.add_argument(
        "--labels",
        metavar="FILE",
        help="with --retrain --log: labels (request_id[,row],label...) joined with the logged inputs",
    )
    review = sub.add_parser("review", help="one HTML report for the reviewer and a terminal summary")
    _add_common(review)
    approve = sub.add_parser(
        "approve", help="record an approval (or --reject) bound to content digests; --check verifies"
    )
    _add_common(approve)
    approve.add_argument("--by", help="the reviewer's name")
    approve.add_argument("--note", default="", help="why (required with --reject)")
    approve.add_argument("--reject", action="store_true", help="record a rejection")
    approve.add_argument(
        "--check", action="store_true", help="exit 0 only when a valid approval covers exactly what is here"
    )
    for verb, text in (
        ("release", "move the MLflow alias champion to the approved model (needs a valid approval)"),
        ("rollback", "move champion back to the previous release"),
        ("status", "champion, candidate and approval state"),
    ):
        p = sub.add_parser(verb, help=text)
        _add_common(p)
        p.add_argument("--tracking-uri", help="MLflow tracking URI (default: SQLite under .nbprod/)")
    export = sub.add_parser(
        "export",
        help="the pipeline for an orchestrator: export airflow NB writes dags/<name>.py, "
        "export kfp NB kubeflow/<name>.py and its compiled kubeflow/<name>.yaml",
    )
    export.add_argument(
        "engine", choices=["airflow", "kfp"], help="the orchestrator (Airflow 3, Kubeflow Pipelines v2)"
    )
    _add_common(export)
    export.add_argument("--schedule", help='Airflow schedule, e.g. "@weekly" (default: none, triggered runs only)')
    export.add_argument("--no-track", action="store_true", help="no MLflow tracking task")
    export.add_argument("--no-package", action="store_true", help="no Bento packaging task")
    export.add_argument("--base-image", help="kfp: the components' image (default: python:3.11-slim)")
    export.add_argument("--no-compile", action="store_true", help="kfp: write the module only, not the compiled YAML")
    export.add_argument(
        "--kubernetes",
        action="store_true",
        help="every task a KubernetesPodOperator; also writes dags/<name>.Dockerfile",
    )
    export.add_argument("--image", help="the image of the pods (with --kubernetes; default: <name>-pipeline:latest)")
    export.add_argument(
        "--data-param",
        metavar="NAME[=FILE]",
        help="make the data file the notebook reads (FILE, when it reads several) the DAG param NAME",
    )
    expect = sub.add_parser("expect", help="propose starter expectation suites for the gate: tags from a good run")
    _add_common(expect)
    expect.add_argument("--force", action="store_true", help="overwrite suites a person has edited")
    return parser
