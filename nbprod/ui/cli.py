"""The ``nbprod`` command: a thin shell over the plain Python functions of each module.

Imports nothing heavy at module level: ``nbprod --help`` and ``nbprod lint`` never load Ploomber,
papermill, pandas, Great Expectations, MLflow or BentoML. Errors print without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Optional

from nbprod._core import env
from nbprod.errors import NbprodError, ServeError, UsageError
from nbprod.ui.parser import build_parser

__all__ = ["main"]


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

    if args.canary is not None or args.shadow:
        return _serve_canary(args)
    tag = None
    if args.champion:
        from nbprod.workflow.release import status

        st = status(args.notebook, project=args.project, name=args.name, split=args.split)
        if not st.champion_bento:
            raise ServeError("no champion has been released", path=args.notebook, fix=f"nbprod release {args.notebook}")
        tag = st.champion_bento
    return serve(
        args.notebook,
        project=args.project,
        name=args.name,
        split=args.split,
        port=args.port,
        bento_tag=tag,
        announce=lambda t: print(f"serving {t} on http://127.0.0.1:{args.port} (Ctrl+C stops)", flush=True),
    )


def _serve_canary(args: argparse.Namespace) -> int:
    from nbprod.workflow.canary import prepare_canary, serve_canary
    from nbprod.workflow.release import canary_line

    if args.champion:
        raise UsageError("--champion and --canary exclude each other", path=args.notebook, fix="pass one of them")
    kw = {"project": args.project, "name": args.name, "split": args.split}
    plan = prepare_canary(args.notebook, percent=args.canary or 0.0, shadow=args.shadow, **kw)
    print(f"serving canary {plan.describe(args.port)} (Ctrl+C stops)", flush=True)
    return serve_canary(
        plan, port=args.port, on_event=lambda e: print(f"canary: {canary_line(e)} (recorded)", flush=True)
    )


def _cmd_monitor(args: argparse.Namespace) -> int:
    from nbprod.workflow.monitor import monitor, render_table

    common = dict(project=args.project, name=args.name, split=args.split)
    if not args.retrain and (args.data or args.data_param or args.labels):
        raise UsageError("--data, --data-param and --labels go with --retrain", path=args.notebook, fix="add --retrain")
    if args.log is None:
        if args.picture is not None or args.labels is not None:
            raise UsageError(
                "--picture and --labels read the prediction log", path=args.notebook, fix="add --log [PATH]"
            )
        result = monitor(args.notebook, **common, url=args.url, prometheus=args.prometheus)
    else:
        from nbprod.workflow.monitor_log import monitor_log

        result = monitor_log(args.notebook, **common, log=args.log or None, window=args.window)
    print(render_table(result))
    if args.picture is not None:
        from nbprod.workflow.drift_picture import default_picture, draw_picture

        out = Path(args.picture) if args.picture else default_picture(result)
        drawn = draw_picture(result, out)
        print(f"drift picture: {out} ({', '.join(drawn)})" if drawn else "no feature drifted: no drift picture")
    if args.retrain:
        _monitor_retrain(args, result)
    return 1 if result.alert else 0


def _monitor_retrain(args: argparse.Namespace, result: Any) -> None:
    from nbprod.views.events_text import event_text
    from nbprod.workflow.monitor_log import logged_records
    from nbprod.workflow.retrain import retrain

    if not result.alert:
        print("no alert: nothing to retrain")
        return
    rows = None
    if args.labels is not None:
        from nbprod.package.prediction_log import read_log

        rows = logged_records(list(read_log(result.log)))
    done = retrain(args.notebook, project=args.project, name=args.name, split=args.split, param=args.data_param,
                   data=args.data, labels=args.labels, log_rows=rows, log=result.log or "",
                   on_event=lambda e: print("  " + event_text(e), flush=True))  # fmt: skip
    run = done.run
    joined = f" ({done.rows} labelled rows from the log)" if done.rows is not None else ""
    print(f"retrained on {done.data_file}{joined} (-p {done.param}=...): {len(run.ran)} steps ran")
    version = (run.tracked or {}).get("model_version")
    print(f"candidate: MLflow model version {version or '-'} (alias candidate), Bento {run.bento_tag or '-'}")
    print(f"not released: review it (nbprod review {args.notebook}), approve it, then nbprod release {args.notebook}")


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
    if args.engine == "kfp":
        return _export_kfp(args)
    if args.base_image is not None or args.no_compile:
        raise UsageError("--base-image and --no-compile are for kfp", path=args.notebook, fix="leave them out")
    from nbprod.export.airflow import export_airflow

    result = export_airflow(
        args.notebook,
        project=args.project,
        name=args.name,
        split=args.split,
        schedule=args.schedule,
        track=not args.no_track,
        package=not args.no_package,
        kubernetes=args.kubernetes,
        image=args.image,
        data_param=args.data_param,
    )
    print(f"{result.path} {'written' if result.changed else 'unchanged'}: Airflow 3 DAG {result.dag_id!r}")
    if args.kubernetes:
        print(f"image: docker build -f {result.path.with_suffix('.Dockerfile')} -t <image> . (see the file's header)")
    print(f"test it: airflow dags test {result.dag_id} -f {result.path} (pip install 'nbprod[airflow]')")
    return 0


def _export_kfp(args: argparse.Namespace) -> int:
    from nbprod.export.kfp import BASE_IMAGE, export_kfp

    if args.schedule is not None:
        raise UsageError("--schedule is for airflow", path=args.notebook, fix="schedule Kubeflow runs in Kubeflow")
    result = export_kfp(
        args.notebook,
        project=args.project,
        name=args.name,
        split=args.split,
        base_image=args.base_image or BASE_IMAGE,
        track=not args.no_track,
        package=not args.no_package,
        compile=not args.no_compile,
    )
    written = [str(p) for p in (result.module, result.ir) if p is not None]
    print(f"{' '.join(written)} {'written' if result.changed else 'unchanged'}: Kubeflow pipeline {result.pipeline!r}")
    print(f"run it locally: kfp.local.SubprocessRunner (pip install 'nbprod[kfp]'); upload {written[-1]} to Kubeflow")
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
    "monitor": _cmd_monitor,
    "review": _cmd_review,
    "approve": _cmd_approve,
    "release": _cmd_release,
    "rollback": _cmd_rollback,
    "status": _cmd_status,
}


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
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
    code = _dispatch(args)
    if argv is None:  # the nbprod program (not a call from Python): skip the interpreter's slow finalization
        env.exit_now(code)
    return code


def _dispatch(args: argparse.Namespace) -> int:
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
