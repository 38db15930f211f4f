"""``python -m nbprod.export.runtime_cli VERB PIPELINE NOTEBOOK ...``: one task of an exported pipeline, what the pods of
``nbprod export airflow --kubernetes`` run. An nbprod error is one line on stderr and its exit code, never a traceback.
"""

from __future__ import annotations

from typing import Any, Optional

from nbprod.errors import NbprodError, UsageError
from nbprod.export.runtime import check_gate, check_thresholds, run_step, track_and_package

__all__ = ["main"]


def _cli() -> Any:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m nbprod.export.runtime_cli",
        description="One task of an exported pipeline (what the pods of `nbprod export airflow --kubernetes` run).",
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb, extra in (("step", ["step"]), ("gate", ["step", "variable"]), ("require", ["step"])) + (
        ("track-and-package", []),
    ):
        p = sub.add_parser(verb)
        p.add_argument("pipeline")
        p.add_argument("notebook", help="relative to the project")
        for name in extra:
            p.add_argument(name)
        p.add_argument("--project", default=".", help="the project folder (default: the current folder)")
        p.add_argument("--products-dir", default="", help="products folder (default: nbprod's own)")
        if verb in ("step", "track-and-package"):
            p.add_argument("--param", nargs=2, action="append", default=[], metavar=("NAME", "JSON"))
            p.add_argument("--data", nargs=2, action="append", default=[], metavar=("FILE", "PATH"))
        if verb == "track-and-package":
            p.add_argument("--no-track", action="store_true")
            p.add_argument("--no-package", action="store_true")
    return parser


def _json_param(name: str, text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--param {name}: {text!r} is not JSON ({exc.msg})",
            path=name,
            fix="pass the value as JSON, e.g. --param alpha 0.5 or --param city '\"Oslo\"'",
        ) from None


def main(argv: Optional[list[str]] = None) -> int:
    """Run one task; print its result as JSON."""
    import json
    import sys

    args = _cli().parse_args(argv)
    where = {"products_dir": args.products_dir or None}
    try:
        params = {k: _json_param(k, v) for k, v in getattr(args, "param", [])}
        data = {f: p for f, p in getattr(args, "data", []) if p and p != f}
        if args.verb == "step":
            out: Any = run_step(args.project, args.pipeline, args.notebook, args.step, params, data=data, **where)
        elif args.verb == "gate":
            out = check_gate(args.project, args.pipeline, args.notebook, args.step, args.variable, **where)
        elif args.verb == "require":
            out = check_thresholds(args.project, args.pipeline, args.notebook, args.step, **where)
        else:
            out = track_and_package(
                args.project,
                args.pipeline,
                args.notebook,
                track=not args.no_track,
                package=not args.no_package,
                params=params,
                data=data,
                **where,
            )
    except NbprodError as err:
        sys.stderr.write(f"{err}\n")
        return err.exit_code
    sys.stdout.write(json.dumps(out, sort_keys=True, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
