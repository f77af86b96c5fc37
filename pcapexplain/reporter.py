"""HTML reporter: fill the report template with a prepared context. The only jinja2 user.

Preparation (what to show, every string) is `report_context.build_context` (re-exported here)
and, for a batch's index page, `index_context.build_index_context`; this module only renders
and writes. The page is one self-contained file: CSS and JS are inlined
from package files, and a Content-Security-Policy forbids loading anything from anywhere.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from markupsafe import Markup

from pcapexplain.index_context import IndexContext
from pcapexplain.output import atomic_write_text
from pcapexplain.report_context import ReportContext, build_context

if TYPE_CHECKING:
    from pcapexplain.feedback import FeedbackContext
    from pcapexplain.gradebook import SummaryContext

__all__ = [
    "ReportContext",
    "build_context",
    "render_feedback",
    "render_html",
    "render_index",
    "render_summary",
    "write_report",
]

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


@functools.cache  # compiled templates are kept: a batch renders many pages in one process
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pcapexplain", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["wbr"] = _word_breaks
    return env


def _word_breaks(label: str) -> Markup:
    """A heading that may wrap after an underscore (TIME_ / WAIT), never inside a word."""
    return Markup("_<wbr>").join(Markup.escape(part) for part in label.split("_"))


@functools.cache
def _asset(name: str) -> str:
    return (resources.files("pcapexplain") / "templates" / name).read_text(encoding="utf-8")


def _script(name: str) -> Markup:
    """A page's script after the table sorting that the report and the index share."""
    return Markup(_asset("table.js") + _asset(name))


def render_html(ctx: ReportContext) -> str:
    """The whole page as one string; deterministic for the same context."""
    template = _environment().get_template("report.html.j2")
    # The CSS and JS are our own package files, not capture text: inlined verbatim.
    return template.render(
        ctx=ctx,
        csp=CSP,
        css=Markup(_asset("report.css")),
        js=_script("report.js"),
    )


def render_feedback(ctx: FeedbackContext) -> str:
    """A student's feedback: the report of the rubric's connections with the results on top."""
    return _render_grading("feedback.html.j2", ctx=ctx.report, fb=ctx, js=_script("report.js"))


def render_summary(ctx: SummaryContext) -> str:
    """The class summary page: score distribution, most-missed items, flagged students."""
    return _render_grading("summary.html.j2", ctx=ctx)


def _render_grading(name: str, **values: object) -> str:
    template = _environment().get_template(name)
    styles = {"css": Markup(_asset("report.css")), "grading_css": Markup(_asset("grading.css"))}
    return template.render(csp=CSP, **styles, **values)


def render_index(ctx: IndexContext) -> str:
    """A batch's index page: the report's look (its stylesheet, then the index's own rules) and
    the same Content-Security-Policy; self-contained, deterministic for the same context."""
    template = _environment().get_template("index.html.j2")
    return template.render(
        ctx=ctx,
        csp=CSP,
        css=Markup(_asset("report.css") + _asset("index.css")),
        js=_script("index.js"),
    )


def write_report(html: str, target: str | os.PathLike[str]) -> Path:
    """Write atomically (temporary file, then rename); returns the path written."""
    return atomic_write_text(target, html)
