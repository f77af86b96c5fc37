"""HTML reporter: fill the report template with a prepared context. The only jinja2 user.

Preparation (what to show, every string) is `report_context.build_context`, re-exported here;
this module only renders and writes. The page is one self-contained file: CSS and JS are inlined
from package files, and a Content-Security-Policy forbids loading anything from anywhere.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from pcapexplain.output import atomic_write_text
from pcapexplain.report_context import ReportContext, build_context

__all__ = ["ReportContext", "build_context", "render_html", "write_report"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


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


def _asset(name: str) -> str:
    return (resources.files("pcapexplain") / "templates" / name).read_text(encoding="utf-8")


def render_html(ctx: ReportContext) -> str:
    """The whole page as one string; deterministic for the same context."""
    template = _environment().get_template("report.html.j2")
    # The CSS and JS are our own package files, not capture text: inlined verbatim.
    return template.render(
        ctx=ctx,
        csp=CSP,
        css=Markup(_asset("report.css")),
        js=Markup(_asset("report.js")),
    )


def write_report(html: str, target: str | os.PathLike[str]) -> Path:
    """Write atomically (temporary file, then rename); returns the path written."""
    return atomic_write_text(target, html)
