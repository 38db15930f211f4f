"""The ``nbprod`` command: a thin shell over the plain Python functions of each module.

Imports nothing heavy at module level: ``nbprod --help`` and ``nbprod lint`` never load Ploomber,
papermill, pandas, Great Expectations, MLflow or BentoML. Errors print without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from nbprod import __version__
from nbprod.errors import NbprodError

__all__ = ["main"]

EPILOG = """\
the journey:
  nbprod lint NB       hardening findings, each naming the cell and the fix
  nbprod convert NB    write pipelines/<name>/ (pipeline.yaml, tasks/, README.md)
  nbprod run NB        build the pipeline incrementally (products under .nbprod/), checking gates
  nbprod verify NB     does the pipeline compute what the notebook computes top to bottom?
  nbprod expect NB     propose expectation suites for gate: tags from a good run
  nbprod package NB    bentos/<name>/ (service, bentofile, model card) and a built Bento
  nbprod serve NB      serve the built Bento on 127.0.0.1 (--champion: the released one)
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


def _parser() -> argparse.ArgumentParser:
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
    export = sub.add_parser("export", help="the pipeline for an orchestrator: export airflow NB writes dags/<name>.py")
    export.add_argument("engine", choices=["airflow"], help="the orchestrator (Airflow 3)")
    _add_common(export)
    export.add_argument("--schedule", help='Airflow schedule, e.g. "@weekly" (default: none, triggered runs only)')
    export.add_argument("--no-track", action="store_true", help="no MLflow tracking task")
    export.add_argument("--no-package", action="store_true", help="no Bento packaging task")
    expect = sub.add_parser("expect", help="propose starter expectation suites for the gate: tags from a good run")
    _add_common(expect)
    expect.add_argument("--force", action="store_true", help="overwrite suites a person has edited")
    return parser


def _cmd_lint(args: argparse.Namespace) -> int:
    from nbprod.lint import lint, render_json, render_text

    report = lint(args.notebook, split=args.split, name=args.name)
    print(render_json(report) if args.format == "json" else render_text(report))
    return 1 if report.errors else 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from nbprod.convert.render import convert

    result = convert(args.notebook, project=args.project, name=args.name, split=args.split)
    plan = result.plan
    for note in plan.notes:
        print(f"note: {note}")
    state = "written" if result.changed else "unchanged"
    print(
        f"{result.out_dir}/ {state}: {len(plan.steps)} steps ({' -> '.join(s.name for s in plan.steps)}), "
        f"{len(result.files)} files"
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from nbprod.events import EventKind, StepEvent
    from nbprod.plan.params import parse_assignments
    from nbprod.views.events_text import event_text
    from nbprod.workflow.run import run

    def show(e: StepEvent) -> None:
        indent = (
            "" if e.kind == EventKind.PLAN else "    " if e.kind in (EventKind.GATE, EventKind.GATE_FAILED) else "  "
        )
        print(indent + event_text(e), flush=True)

    result = run(
        args.notebook,
        project=args.project,
        name=args.name,
        params=parse_assignments(args.param),
        isolated=args.isolated,
        force=args.force,
        split=args.split,
        on_event=show,
        track=False if args.no_track else None,
        tracking_uri=args.tracking_uri,
        package=False if args.no_package else None,
    )
    total = sum(result.timings.values())
    print(f"done: {len(result.ran)} ran ({total:.2f} s), {len(result.skipped)} up to date")
    if result.metrics:
        print("metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.metrics.items())))
    for gate in result.gates:
        for o in gate.warnings:
            print(f"warning: gate {gate.variable}: {o.describe()} (report: {gate.report_html})")
    if result.missing_card_fields:
        print("model card: missing human fields " + ", ".join(f"card:{f}" for f in result.missing_card_fields))
    if result.bento_tag:
        print(f"serve it: nbprod serve {args.notebook}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from nbprod.workflow.verify import verify

    print(
        f"verifying {args.notebook}: the notebook in one kernel, then the pipeline one kernel per step ...", flush=True
    )
    report = verify(
        args.notebook,
        project=args.project,
        name=args.name,
        split=args.split,
        printed=not args.no_printed,
        keep=args.keep,
    )
    print(report.render())
    return 0 if report.equal else 1


def _cmd_package(args: argparse.Namespace) -> int:
    from nbprod.package.packager import package

    result = package(args.notebook, project=args.project, name=args.name, split=args.split, build=not args.no_build)
    for note in result.notes:
        print(f"note: {note}")
    print(f"{result.bento_dir}/ written: {', '.join(sorted(result.files))}")
    if result.missing_card_fields:
        print(
            "model card: missing human fields (add markdown cells tagged): "
            + ", ".join(f"card:{f}" for f in result.missing_card_fields)
        )
    if result.built:
        print(f"built Bento {result.bento_tag} (model {result.model_tag}); serve it: nbprod serve {args.notebook}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from nbprod.workflow.serve import serve

    tag = None
    if args.champion:
        from nbprod.workflow.release import status

        st = status(args.notebook, project=args.project, name=args.name, split=args.split)
        if not st.champion_bento:
            raise NbprodError(
                "no champion has been released", path=args.notebook, fix=f"nbprod release {args.notebook}"
            )
        tag = st.champion_bento
    from nbprod.workflow.serve import bento_to_serve
    from nbprod.workflow.workspace import Workspace

    ws = Workspace(args.notebook, project=args.project, name=args.name, split=args.split)
    tag = bento_to_serve(ws, tag)
    print(f"serving {tag} on http://127.0.0.1:{args.port} (Ctrl+C stops)", flush=True)
    return serve(args.notebook, project=args.project, name=args.name, split=args.split, port=args.port, bento_tag=tag)


def _cmd_review(args: argparse.Namespace) -> int:
    from nbprod.workflow.review import review

    print(review(args.notebook, project=args.project, name=args.name, split=args.split).summary_text())
    return 0


def _cmd_approve(args: argparse.Namespace) -> int:
    from nbprod.workflow.approval import approve, check

    if args.check:
        verdict = check(args.notebook, project=args.project, name=args.name, split=args.split)
        print(f"approval: {verdict.state}" + (f" - {verdict.message}" if verdict.message else ""))
        return 0 if verdict.ok else 1
    if not args.by:
        raise NbprodError(
            "--by NAME is required to approve or reject", fix="nbprod approve NB --by 'Your Name' [--note TEXT]"
        )
    record = approve(
        args.notebook,
        by=args.by,
        note=args.note,
        reject=args.reject,
        project=args.project,
        name=args.name,
        split=args.split,
    )
    print(
        f"{record['decision']} by {record['by']}: approvals/{record['pipeline']}.json (digest "
        f"{record['digest'][:12]}); "
        "commit it so that the pull request carries the decision"
    )
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from nbprod.workflow.release import release

    entry = release(
        args.notebook, project=args.project, name=args.name, split=args.split, tracking_uri=args.tracking_uri
    )
    print(
        f"released model version {entry['model_version']} as champion; Bento {entry['bento_tag']} "
        f"(approval {entry['approval_digest'][:12]}); serve it: nbprod serve {args.notebook} --champion"
    )
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from nbprod.workflow.release import rollback

    entry = rollback(
        args.notebook, project=args.project, name=args.name, split=args.split, tracking_uri=args.tracking_uri
    )
    print(
        f"champion is back to model version {entry['model_version']}; serve Bento {entry['bento_tag']}: "
        f"nbprod serve {args.notebook} --champion"
    )
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from nbprod.workflow.release import status

    st = status(args.notebook, project=args.project, name=args.name, split=args.split, tracking_uri=args.tracking_uri)
    print(st.render())
    return 0


def _cmd_expect(args: argparse.Namespace) -> int:
    from nbprod.workflow.expect import expect

    result = expect(args.notebook, project=args.project, name=args.name, force=args.force, split=args.split)
    if result.built:
        print(f"ran {', '.join(result.built)} first (no products yet; gates are checked by the next nbprod run)")
    for path in result.written:
        print(f"wrote {path}: review it, edit what the data should guarantee, and commit it")
    for path in result.unchanged:
        print(f"{path} unchanged")
    for path, diff in result.refused.items():
        print(f"{path} was edited by a person; not overwritten. The proposal differs:\n{diff}")
    if result.refused:
        print("re-run with --force to replace the edited suite(s) with the proposal", file=sys.stderr)
        return 1
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from nbprod.export.airflow import export_airflow

    result = export_airflow(
        args.notebook,
        project=args.project,
        name=args.name,
        split=args.split,
        schedule=args.schedule,
        track=not args.no_track,
        package=not args.no_package,
    )
    print(f"{result.path} {'written' if result.changed else 'unchanged'}: Airflow 3 DAG {result.dag_id!r}")
    print(f"test it: airflow dags test {result.dag_id} -f {result.path} (pip install 'nbprod[airflow]')")
    return 0


COMMANDS = {
    "lint": _cmd_lint,
    "convert": _cmd_convert,
    "run": _cmd_run,
    "verify": _cmd_verify,
    "expect": _cmd_expect,
    "export": _cmd_export,
    "package": _cmd_package,
    "serve": _cmd_serve,
    "review": _cmd_review,
    "approve": _cmd_approve,
    "release": _cmd_release,
    "rollback": _cmd_rollback,
    "status": _cmd_status,
}


def main(argv: Optional[list[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    if getattr(args, "verbose", False):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("nbprod: %(name)s: %(message)s"))
        root = logging.getLogger("nbprod")
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
    try:
        return COMMANDS[args.command](args)
    except NbprodError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
