"""README.md must document every command, exit status, outcome and anomaly slug."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from pcapexplain.cli import app
from pcapexplain.errors import ExitStatus
from pcapexplain.grading import Status
from pcapexplain.integrity import IntegrityFlag
from pcapexplain.model import (
    AnomalySlug,
    CapturePoint,
    Closer,
    ConnState,
    Handshake,
    Inference,
    Teardown,
)
from pcapexplain.questions import QuestionKind
from pcapexplain.rubric import QUESTION_KEYS, REQUIREMENT_KEYS, SELECT_KEYS, TOP_KEYS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _glossary_terms() -> set[str]:
    """Terms defined in the glossary: `term` at the start of a table row."""
    section = README.split("## Glossary", 1)[1]
    return set(re.findall(r"^\|\s*`([^`]+)`", section, flags=re.MULTILINE))


def _commands() -> dict[str, object]:
    group = typer.main.get_command(app)
    return dict(group.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("slug", [s.value for s in AnomalySlug])
def test_every_anomaly_slug_is_in_the_glossary(slug: str) -> None:
    assert slug in _glossary_terms()


@pytest.mark.parametrize(
    "value", [v.value for enum in (Handshake, Teardown, CapturePoint, Inference) for v in enum]
)
def test_every_outcome_is_in_the_glossary(value: str) -> None:
    assert value in _glossary_terms()


@pytest.mark.parametrize("state", [s.value for s in ConnState])
def test_every_zeek_state_is_in_the_glossary(state: str) -> None:
    assert state in _glossary_terms()


def test_glossary_defines_nothing_unknown() -> None:
    vocabularies = (
        AnomalySlug,
        Handshake,
        Teardown,
        Closer,
        Inference,
        ConnState,
        CapturePoint,
        Status,
        IntegrityFlag,
    )
    known = {member.value for enum in vocabularies for member in enum}
    assert _glossary_terms() <= known


def test_every_command_has_help_and_a_readme_example() -> None:
    for name, command in _commands().items():
        assert getattr(command, "help", None), f"{name} has no help text"
        assert f"pcapexplain {name}" in README, f"README shows no example of {name}"


def test_every_exit_status_is_documented() -> None:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for status in ExitStatus:
        assert re.search(rf"^\|\s*{int(status)}\s*\|", section, flags=re.MULTILINE), status


def test_readme_gives_the_two_setup_commands_ci_uses() -> None:
    assert "bash dev.sh demo" in README and "bash dev.sh test" in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "bash dev.sh test" in ci


@pytest.mark.parametrize("value", [*(s.value for s in Status), *(f.value for f in IntegrityFlag)])
def test_every_item_status_and_integrity_flag_is_in_the_glossary(value: str) -> None:
    assert value in _glossary_terms()


def test_the_rubric_format_documents_every_key_and_question_kind() -> None:
    section = README.split("## The rubric format", 1)[1].split("\n## ", 1)[0]
    for kind in QuestionKind:
        assert re.search(rf"`{kind.value}`", section), kind
    for key in (*TOP_KEYS, *REQUIREMENT_KEYS, *QUESTION_KEYS, *SELECT_KEYS):
        assert f"`{key}`" in section or f"[{key}]" in section or f"[[{key}]]" in section, key
