"""Size and complexity of the nbprod package, the figures ARCHITECTURE.md promises.

    python benchmarks/code_metrics.py            # print the figures
    python benchmarks/code_metrics.py --check    # also fail (exit 1) when a budget is exceeded

Budgets (checked by ``make check``): no module over 400 lines, no function over cyclomatic complexity 25
(radon's measure, the one the architecture review used). Known exceptions are listed, one per line, in
``benchmarks/code_budget.txt``; the list may only shrink: a listed item that is back under budget fails the
check too, so the entry is removed in the same change. Reported beside them: module count, median and max
module lines, functions over CC 20, lines over 100 characters, and the public names of the root package.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nbprod"
MAX_MODULE_LINES = 400
MAX_COMPLEXITY = 25
BUDGET_FILE = Path(__file__).with_name("code_budget.txt")


def _blocks(source: str) -> list:
    """Every function and method once (radon lists methods both inside their class and on their own)."""
    seen: dict[tuple[int, str], object] = {}
    for block in cc_visit(source):
        for b in [block, *getattr(block, "methods", [])]:
            if not hasattr(b, "methods"):
                seen[(b.lineno, b.name)] = b
    return list(seen.values())


def measure() -> dict:
    modules = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    sizes: dict[str, int] = {}
    complexity: list[tuple[int, str]] = []
    long_lines = total_lines = 0
    for path in modules:
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        lines = text.split("\n")
        sizes[rel] = len(lines) - (1 if text.endswith("\n") else 0)
        total_lines += sizes[rel]
        long_lines += sum(1 for line in lines if len(line) > 100)
        for block in _blocks(text):
            complexity.append((block.complexity, f"{rel}:{block.lineno} {block.name}"))
    sys.path.insert(0, str(ROOT))
    import nbprod

    return {
        "modules": len(modules),
        "lines": total_lines,
        "median_module": statistics.median(sizes.values()),
        "max_module": max(sizes.items(), key=lambda kv: kv[1]),
        "over_cc20": sorted((c for c in complexity if c[0] > 20), reverse=True),
        "max_cc": max(complexity),
        "long_lines_pct": 100.0 * long_lines / max(total_lines, 1),
        "public_names": len(nbprod.__all__),
        "sizes": sizes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a budget is exceeded")
    args = parser.parse_args(argv)
    m = measure()
    print(f"modules: {m['modules']}, lines: {m['lines']}")
    print(f"module lines: median {m['median_module']}, max {m['max_module'][1]} ({m['max_module'][0]})")
    print(f"functions over CC 20 (radon): {len(m['over_cc20'])}; max CC {m['max_cc'][0]} ({m['max_cc'][1]})")
    for cc, where in m["over_cc20"]:
        print(f"    CC {cc:3d}  {where}")
    print(f"lines over 100 characters: {m['long_lines_pct']:.1f} %")
    print(f"public names (nbprod.__all__): {m['public_names']}")
    if not args.check:
        return 0
    over = {rel for rel, n in m["sizes"].items() if n > MAX_MODULE_LINES}
    over |= {where.split(":")[0] + " " + where.split(" ", 1)[1] for cc, where in m["over_cc20"] if cc > MAX_COMPLEXITY}
    allowed = {line.split("#")[0].strip() for line in BUDGET_FILE.read_text().splitlines()} - {""}
    problems = [
        f"over budget (modules > {MAX_MODULE_LINES} lines, functions > CC {MAX_COMPLEXITY}): {item}"
        for item in sorted(over - allowed)
    ]
    problems += [f"back under budget: remove {item!r} from {BUDGET_FILE.name}" for item in sorted(allowed - over)]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"known exceptions still over budget ({BUDGET_FILE.name}): {len(over & allowed)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
