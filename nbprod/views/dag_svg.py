"""A self-contained SVG picture of a pipeline plan's DAG (standard library and nbprod.plan.order only).

``render_svg(plan)`` lays the steps out left to right in layers (a step's column is the longest path from a root)
and draws the data edges between them. The output is inline SVG with no external fonts, CSS, scripts or links, so
it can be pasted into an HTML report or a Markdown file as is. The same plan always gives the same bytes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from nbprod.plan.order import depths

if TYPE_CHECKING:  # annotations only: at run time this module needs only the standard library and plan.order
    from nbprod.plan.model import Pipeline, Step

__all__ = ["render_svg", "edge_label", "STATUS_COLOURS"]

#: step status -> (fill, stroke) of its box; anything else is drawn like "unknown".
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "ran": ("#e6f4ea", "#1e8e3e"),
    "passed": ("#e6f4ea", "#1e8e3e"),
    "skipped": ("#f1f3f4", "#9aa0a6"),
    "failed": ("#fce8e6", "#d93025"),
    "blocked": ("#fef3e0", "#e8710a"),
    "unknown": ("#ffffff", "#5f6368"),
}
_DEFAULT = ("#f8f9fa", "#3c4043")
_FONT = "ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"  # local fonts only; monospace keeps widths predictable
_PAD, _ROW_GAP, _NAME_H, _LINE_H, _CHAR = 20, 28, 26, 17, 0.62  # _CHAR: glyph width as a fraction of font size
_MAX_CHARS = 40
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _esc(text: Any) -> str:
    """Escape any text for XML text and attribute values (characters XML 1.0 cannot hold become U+FFFD)."""
    return html.escape(_XML_BAD.sub("\ufffd", str(text)), quote=True)


def _clip(text: str, limit: int = _MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _width(text: str, size: float) -> float:
    return len(text) * size * _CHAR


def _num(v: float) -> str:
    """Round coordinates so the output is compact and stable."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


def edge_label(names: list[str]) -> str:
    """The label of an edge: up to three flowing names and '+N' for the rest; 'after' for an ordering-only edge."""
    if not names:
        return "after"
    return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")


def _box_lines(step: Step) -> tuple[list[str], list[str]]:
    """(badges, require lines) of a step."""
    badges: list[str] = []
    if step.gates:
        badges.append("gate: " + ", ".join(step.gates))
    if step.model:
        badges.append("model")
    requires = [f"require: {req}" for req, _cell in step.requires]
    return [_clip(b, 28) for b in badges], [_clip(r) for r in requires]


#: An edge of the plan: (producer, consumer, flowing names); ``end`` 0 is the producer, 1 the consumer.
_Edge = tuple[str, str, list[str]]


def _end(edge: _Edge, end: int) -> str:
    return edge[0] if end == 0 else edge[1]


@dataclass
class _Layout:
    """Where everything goes: computed from the plan alone, then drawn by :func:`render_svg`."""

    edges: list[_Edge]
    lines: dict[str, tuple[list[str], list[str]]]  # step -> (badges, require lines)
    labels: list[str]  # edge index -> label
    box_w: float = 0.0  # one box width for all steps
    gap: float = 0.0  # between columns, wide enough for the longest edge label
    pos: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # step -> (x, y, h)
    lane: dict[int, float] = field(default_factory=dict)  # edge index -> y of its lane (edges that skip columns)
    port: dict[tuple[int, int], float] = field(default_factory=dict)  # (end, edge index) -> y where it meets a box
    width: float = 0.0
    height: float = 0.0


def _box_height(badges: list[str], reqs: list[str]) -> float:
    return _NAME_H + (_LINE_H + 2 if badges else 0) + _LINE_H * len(reqs) + 8


def _sizes(lay: _Layout, steps: list[Step]) -> None:
    """The common box width and the column gap."""
    widths = [_width(_clip(s.name), 14) for s in steps]
    for badges, reqs in lay.lines.values():
        widths += [sum(_width(b, 11) + 16 for b in badges) - 6] + [_width(r, 11) for r in reqs]
    lay.box_w = max([120.0] + [w + 24 for w in widths])
    lay.gap = max([110.0] + [_width(t, 11) + 48 for t in lay.labels])


def _place_boxes(lay: _Layout, steps: list[Step], col: dict[str, int]) -> dict[int, float]:
    """Stack the steps of each column in plan order; returns the next free y of every column."""
    bottom: dict[int, float] = {}
    for s in steps:
        c = col[s.name]
        y = bottom.get(c, float(_PAD))
        h = _box_height(*lay.lines[s.name])
        lay.pos[s.name] = (_PAD + c * (lay.box_w + lay.gap), y, h)
        bottom[c] = y + h + _ROW_GAP
    return bottom


def _place_lanes(lay: _Layout, col: dict[str, int], bottom: dict[int, float]) -> None:
    """An edge that skips columns runs in its own horizontal lane below the boxes of the columns it skips."""
    for i, (a, b, _names) in enumerate(lay.edges):
        if a in col and b in col and col[b] - col[a] > 1:
            skipped = range(col[a] + 1, col[b])
            lay.lane[i] = max(bottom.get(c, _PAD + _ROW_GAP) for c in skipped) - _ROW_GAP + 18
            bottom.update({c: lay.lane[i] + _ROW_GAP for c in skipped})


def _approach(lay: _Layout, i: int, end: int) -> float:
    """The height an edge comes from: its lane, else the middle of the box at its other end."""
    if i in lay.lane:
        return lay.lane[i]
    _x, y, h = lay.pos[_end(lay.edges[i], end)]
    return y + h / 2


def _place_ports(lay: _Layout, steps: list[Step]) -> None:
    """Spread the edges leaving / entering a box over its height, ordered by the other end's position."""
    for s in steps:
        _x, y, h = lay.pos[s.name]
        for end in (0, 1):
            mine = [i for i, e in enumerate(lay.edges) if _end(e, end) == s.name and _end(e, 1 - end) in lay.pos]
            mine.sort(key=lambda i: (_approach(lay, i, 1 - end), lay.pos[_end(lay.edges[i], 1 - end)][0], i))
            for k, i in enumerate(mine):
                lay.port[(end, i)] = y + h * (k + 1) / (len(mine) + 1)


def _layout(plan: Pipeline) -> _Layout:
    """Layered left-to-right layout of the plan's steps and edges."""
    steps = list(plan.steps)
    edges = [(a, b, list(n)) for a, b, n in plan.edges]
    lay = _Layout(edges, {s.name: _box_lines(s) for s in steps}, [_clip(edge_label(n), 36) for _, _, n in edges])
    col = depths(plan)
    _sizes(lay, steps)
    bottom = _place_boxes(lay, steps, col)
    _place_lanes(lay, col, bottom)
    last = max(col.values(), default=0)
    lay.width = _PAD * 2 + (last + 1) * lay.box_w + last * lay.gap
    lay.height = max([_PAD * 2.0] + [b - _ROW_GAP + _PAD for b in bottom.values()])
    _place_ports(lay, steps)
    return lay


# --- drawing -----------------------------------------------------------------------------------------------------


def _draw_head(title: str, width: float, height: float) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" role="img" aria-label="{_esc(title)}" '
        f'font-family="{_FONT}">',
        f"<title>{_esc(title)}</title>",
        '<defs><marker id="nbprod-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5f6368"/></marker></defs>',
    ]


def _edge_path(lay: _Layout, i: int) -> tuple[str, float, float]:
    """(path data, label x, label y) of edge ``i``."""
    a, b, _names = lay.edges[i]
    x1, y1 = lay.pos[a][0] + lay.box_w, lay.port[(0, i)]
    x2, y2 = lay.pos[b][0], lay.port[(1, i)]
    gap = lay.gap
    if i in lay.lane:  # down into the lane after the producer's column, along it, up into the consumer
        xa, xb, ly = x1 + gap, x2 - gap, lay.lane[i]
        d = (
            f"M{_num(x1)},{_num(y1)} C{_num(x1 + gap / 2)},{_num(y1)} {_num(x1 + gap / 2)},{_num(ly)} "
            f"{_num(xa)},{_num(ly)} L{_num(xb)},{_num(ly)} C{_num(xb + gap / 2)},{_num(ly)} "
            f"{_num(xb + gap / 2)},{_num(y2)} {_num(x2 - 2)},{_num(y2)}"
        )
        return d, (xa + xb) / 2, ly - 4
    mx = (x1 + x2) / 2
    d = f"M{_num(x1)},{_num(y1)} C{_num(mx)},{_num(y1)} {_num(mx)},{_num(y2)} {_num(x2 - 2)},{_num(y2)}"
    return d, mx, (y1 + y2) / 2 - 4


def _draw_edge(lay: _Layout, i: int) -> str:
    a, b, names = lay.edges[i]
    d, lx, lbl_y = _edge_path(lay, i)
    dash = ' stroke-dasharray="6 4"' if not names else ""
    return (
        f'<g class="edge{" after" if not names else ""}" data-from="{_esc(a)}" data-to="{_esc(b)}">'
        f"<title>{_esc(a)} \u2192 {_esc(b)}: {_esc(', '.join(names) or 'after')}</title>"
        f'<path class="edge" d="{d}" fill="none" stroke="#5f6368" stroke-width="1.5"{dash} '
        f'marker-end="url(#nbprod-arrow)"/>'
        f'<text class="edge-label" x="{_num(lx)}" y="{_num(lbl_y)}" text-anchor="middle" '
        f'font-size="11" fill="#3c4043" stroke="#ffffff" stroke-width="3" paint-order="stroke">'
        f"{_esc(lay.labels[i])}</text></g>"
    )


def _colours(st: Optional[str]) -> tuple[str, str]:
    """(fill, stroke) of a box: its status colours, an unknown status like "unknown", no status at all neutral."""
    return STATUS_COLOURS.get(st, STATUS_COLOURS["unknown"]) if st is not None else _DEFAULT


def _draw_box(lay: _Layout, s: Step, st: Optional[str]) -> str:
    """The opening group, tooltip, rounded rect and name of a step's box."""
    x, y, h = lay.pos[s.name]
    fill, stroke = _colours(st)
    tip = s.name + (f" ({st})" if st is not None else "") + (f"; model: {s.model}" if s.model else "")
    return (
        f'<g class="step" data-step="{_esc(s.name)}"' + (f' data-status="{_esc(st)}"' if st else "") + ">"
        f"<title>{_esc(tip)}</title>"
        f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(lay.box_w)}" height="{_num(h)}" rx="8" ry="8" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        f'<text class="step-name" x="{_num(x + 12)}" y="{_num(y + 18)}" font-size="14" font-weight="bold" '
        f'fill="#202124">{_esc(_clip(s.name))}</text>'
    )


def _draw_box_lines(lay: _Layout, s: Step, stroke: str) -> list[str]:
    """The badges ('gate: df', 'model') in one row under the name, then one line per requirement."""
    x, y, _h = lay.pos[s.name]
    badges, reqs = lay.lines[s.name]
    out = []
    bx, ty = x + 12, y + _NAME_H
    for badge in badges:
        bw = _width(badge, 11) + 10
        out.append(
            f'<rect class="badge" x="{_num(bx)}" y="{_num(ty)}" width="{_num(bw)}" height="15" rx="3" '
            f'fill="#ffffff" stroke="{stroke}"/><text class="badge" x="{_num(bx + 5)}" '
            f'y="{_num(ty + 11)}" font-size="11" fill="#3c4043">{_esc(badge)}</text>'
        )
        bx += bw + 6
    ty += _LINE_H + 2 if badges else 0
    for req in reqs:
        out.append(
            f'<text class="require" x="{_num(x + 12)}" y="{_num(ty + 11)}" font-size="11" '
            f'fill="#3c4043">{_esc(req)}</text>'
        )
        ty += _LINE_H
    return out


def _draw_step(lay: _Layout, s: Step, st: Optional[str]) -> list[str]:
    return [_draw_box(lay, s, st), *_draw_box_lines(lay, s, _colours(st)[1]), "</g>"]


def render_svg(plan: Pipeline, *, status: Optional[dict[str, str]] = None) -> str:
    """An inline, self-contained SVG picture of the pipeline DAG (no external fonts/CSS/JS, no network).

    Layered left-to-right layout: a step's column is the longest path from a root; the steps of a column are
    stacked in plan order. Each step is a rounded rect with its name and badges ('gate: df', 'model') plus a
    'require: accuracy>=0.8' line per requirement. Data edges are cubic curves with an arrowhead, labelled with
    the flowing names; ordering-only ``after:`` edges are dashed and labelled 'after'. ``status`` maps a step
    name to 'ran' | 'skipped' | 'failed' | 'blocked' | 'passed' | 'unknown' and colours its box.
    """
    status = status or {}
    lay = _layout(plan)
    title = f"Pipeline {plan.name}: {len(plan.steps)} steps, {len(lay.edges)} edges"
    out = _draw_head(title, lay.width, lay.height)
    out += [_draw_edge(lay, i) for i, (a, b, _n) in enumerate(lay.edges) if a in lay.pos and b in lay.pos]
    for s in plan.steps:
        out += _draw_step(lay, s, status.get(s.name))
    out.append("</svg>")
    return "\n".join(out) + "\n"
