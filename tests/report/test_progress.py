"""The live progress view keeps notes on screen (a saved plan's "left as it is" notes)."""

from __future__ import annotations

import io

from rich.console import Console

from stackdeploy.engine.events import RunEvent
from stackdeploy.report.progress import LiveProgress, PlainProgress


def test_live_view_prints_notes_masked() -> None:
    out = io.StringIO()
    live = LiveProgress(console=Console(file=out, width=200), mask=lambda s: s.replace("pw", "**"))
    live.emit(RunEvent(state="note", message="queue: left as it is (pw)"))
    assert "queue: left as it is (**)" in out.getvalue()


def test_plain_progress_prints_notes() -> None:
    out = io.StringIO()
    plain = PlainProgress(out)
    plain.emit(RunEvent(state="note", message="queue: left as it is"))
    assert out.getvalue() == "queue: left as it is\n"
