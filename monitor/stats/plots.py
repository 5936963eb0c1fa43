"""Server-side plots as SVG: the survival curve with its band, deletions over time,
causes by platform.

matplotlib's object API (no pyplot: no global figure state across threads) with the
SVG writer, which escapes text. Labels come from account and group names, so they
are made plain first: control and format characters (right-to-left overrides,
zero-width joiners) removed, length cut, and TeX parsing off (a ``$`` is a
dollar sign). A font that can show Chinese is used when the machine has one; otherwise the
glyphs are missing and matplotlib's warning about it is silenced.
"""

from __future__ import annotations

import io
import threading
import unicodedata
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import matplotlib
from matplotlib.figure import Figure

from ..db import Connection
from ..db import stats as store
from ..db.stats import StatsFilter
from . import report

__all__ = ["PLOTS", "causes_svg", "deletions_svg", "label", "render", "survival_svg"]

#: Fonts tried before DejaVu Sans, for CJK text, if installed.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN", "Noto Sans SC")
MAX_LABEL = 40
_RENDER_LOCK = threading.Lock()
_SVG = "http://www.w3.org/2000/svg"
ElementTree.register_namespace("", _SVG)
ElementTree.register_namespace("xlink", "http://www.w3.org/1999/xlink")
#: x-axis ticks of the survival plot, seconds.
_TICKS = ((60, "1 min"), (600, "10 min"), (3600, "1 h"), (86400, "1 d"), (604800, "1 w"),
          (2592000, "30 d"))


def label(text: Any) -> str:
    """``text`` safe and short enough to print on a plot."""
    clean = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
                    for c in str(text) if unicodedata.category(c) not in ("Cf", "Cs", "Co"))
    clean = " ".join(clean.split()).lstrip("_") or "(blank)"
    if len(clean) > MAX_LABEL:
        clean = clean[:MAX_LABEL - 1] + "…"
    return clean


def _fonts() -> list[str]:
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in CJK_FONTS if f in installed] + ["DejaVu Sans"]


def _svg(draw: Callable[[Any], None], title: str, size: tuple[float, float] = (8, 4.5)) -> str:
    # parse_math off: a "$" in an account name is text, not TeX.
    style: Any = {"font.family": _fonts(), "svg.hashsalt": "takedown", "svg.fonttype": "path",
                  "text.usetex": False, "text.parse_math": False}
    # rc_context changes process-wide settings: one plot at a time, or a request
    # finishing first would turn TeX parsing back on under another's labels.
    with _RENDER_LOCK, matplotlib.rc_context(style), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Gg]lyph.*missing")
        fig = Figure(figsize=size, layout="constrained")
        draw(fig.add_subplot())
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    return _plain_svg(out.getvalue(), title)


def _plain_svg(svg: str, title: str) -> str:
    """The SVG without its comments (matplotlib writes each label's text in one,
    escaped; the glyphs are paths, so no name is left as text at all), with a
    ``<title>`` for screen readers. Parsing it again also proves it well-formed."""
    root = ElementTree.fromstring(svg)  # the default parser drops comments
    for old in root.findall(f"{{{_SVG}}}title"):
        root.remove(old)
    element = ElementTree.Element(f"{{{_SVG}}}title")
    element.text = title
    root.insert(0, element)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            + ElementTree.tostring(root, encoding="unicode") + "\n")


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def survival_svg(data: dict[str, Any]) -> str:
    """The curves of :func:`monitor.stats.report.survival`, each with its band."""
    def draw(ax: Any) -> None:
        curves = [c for c in data["curves"] if c["points"]]
        if not curves:
            return _empty(ax, "posts")
        for c in curves:
            t = [p["t"] for p in c["points"]]
            line = ax.step(t, [p["survival"] for p in c["points"]], where="post",
                           label=label(f"{c['key']} (n={c['posts']})"))[0]
            ax.fill_between(t, [p["lower"] for p in c["points"]],
                            [p["upper"] for p in c["points"]], step="post", alpha=0.15,
                            color=line.get_color(), linewidth=0)
        ax.set_xscale("symlog", linthresh=60)
        ax.set_xticks([s for s, _ in _TICKS], [n for _, n in _TICKS])
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("time since publication")
        ax.set_ylabel("share of posts still up")
        ax.set_title("Time to takedown (Turnbull estimate, 95% band)")
        ax.legend(loc="lower left", fontsize="small")
    return _svg(draw, "Time to takedown: share of posts still up against time since "
                "publication")


def deletions_svg(rows: list[dict[str, Any]]) -> str:
    """Disappearances per period, one line per key (rows of :func:`report.rates`)."""
    def draw(ax: Any) -> None:
        series: dict[str, list[tuple[Any, int]]] = defaultdict(list)
        for r in rows:
            if r["period"] is not None:
                series[label(r["key"])].append((r["period"], r["disappeared"]))
        if not series:
            return _empty(ax, "deletions")
        for key, points in sorted(series.items()):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=key)
        ax.set_ylabel("disappearances")
        ax.set_title("Deletions over time")
        ax.legend(fontsize="small")
        ax.tick_params(axis="x", labelrotation=30)
    return _svg(draw, "Deletions over time")


def causes_svg(rows: list[dict[str, Any]]) -> str:
    """Disappearances by cause, a stacked bar per platform (rows of
    :func:`monitor.db.stats.cause_counts`)."""
    def draw(ax: Any) -> None:
        if not rows:
            return _empty(ax, "deletions")
        platforms = sorted({label(r["platform"]) for r in rows})
        causes = sorted({label(r["cause"]) for r in rows})
        counts = {(label(r["platform"]), label(r["cause"])): r["n"] for r in rows}
        left = [0] * len(platforms)
        for cause in causes:
            widths = [counts.get((p, cause), 0) for p in platforms]
            ax.barh(platforms, widths, left=left, label=cause)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.set_xlabel("disappearances")
        ax.set_title("Causes by platform")
        ax.legend(fontsize="small")
    return _svg(draw, "Causes of deletions by platform")


def _survival(conn: Connection, f: StatsFilter, by: str) -> str:
    return survival_svg(report.survival(conn, f, by, top=8))


def _deletions(conn: Connection, f: StatsFilter, by: str) -> str:
    return deletions_svg(report.rates(conn, f, "platform" if by in ("all", "cause") else by,
                                      "week"))


def _causes(conn: Connection, f: StatsFilter, by: str) -> str:
    return causes_svg(store.cause_counts(conn, f))


#: The plots by name, as ``/api/v1/stats/plots/{name}.svg`` serves them.
PLOTS: dict[str, Callable[[Connection, StatsFilter, str], str]] = {
    "survival": _survival, "deletions": _deletions, "causes": _causes}


def render(conn: Connection, name: str, f: StatsFilter, by: str = "all") -> str:
    """The SVG of plot ``name`` (a key of :data:`PLOTS`)."""
    if name not in PLOTS:
        raise ValueError(f"unknown plot {name!r}; use one of {', '.join(PLOTS)}")
    return PLOTS[name](conn, f, by)
