"""The progress views, fed engine events with an injected clock: plain lines and their
heartbeat, the live view rendered into a recording rich console, NO_COLOR, the JSON lines."""

from __future__ import annotations

import io
import json
import re
import threading

import pytest
from rich.console import Console

from stackdeploy.engine.events import RunEvent
from stackdeploy.report.progress import (
    JsonLinesEvents,
    LiveProgress,
    PlainProgress,
    live_view_wanted,
    make_console,
)

SECRET = "hunter2-very-secret"


def mask(text: str) -> str:
    return text.replace(SECRET, "****")


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ev(state: str, resource: str | None = None, **fields: object) -> RunEvent:
    return RunEvent(state=state, resource=resource, **fields)  # type: ignore[arg-type]


# -- plain lines ----------------------------------------------------------------------------


def plain(clock: Clock | None = None) -> tuple[PlainProgress, io.StringIO]:
    out = io.StringIO()
    return PlainProgress(out, mask=mask, clock=clock or Clock()), out


def test_plain_lines_for_a_build() -> None:
    progress, out = plain()
    for event in (
        ev("phase", phase="planning", message="4 resources", count=4),
        ev("planning", "a"),
        ev("planned", "a", action="create"),
        ev("phase", phase="applying", message="3 to change", count=3),
        ev("started", "a", action="create", time=1000.0),
        ev("request", "a", operation="CREATE", request_token="tok-a"),
        ev("request_done", "a", operation="CREATE", request_token="tok-a", message="SUCCESS"),
        ev("done", "a", action="create", message="created", elapsed=3.04, time=1003.0),
        ev("started", "b", action="update", time=1000.0),
        ev("failed", "b", message=f"AccessDenied: no access to {SECRET}"),
        ev("note", message="b failed: starting nothing more; waiting for c to finish"),
        ev("skipped", "c", message="depends on b, which failed"),
        ev("not_started", "d", message="stopped after b failed"),
    ):
        progress.emit(event)
    assert out.getvalue().splitlines() == [
        "applying: 3 to change",
        "a: creating...",
        "a: create request tok-a",
        "[1/3] a: created (3.0s)",
        "b: updating...",
        "b: FAILED: AccessDenied: no access to ****",
        "b failed: starting nothing more; waiting for c to finish",
        "c: skipped: depends on b, which failed",
        "d: not started: stopped after b failed",
    ]


def test_plain_teardown_and_rollback_count_against_their_own_totals() -> None:
    progress, out = plain()
    progress.emit(ev("phase", phase="deleting", message="2 to delete", count=2))
    for name in ("q", "b"):
        progress.emit(ev("started", name, action="delete", time=1000.0))
        progress.emit(ev("done", name, action="delete", message="deleted", elapsed=1.0))
    progress.emit(ev("phase", phase="rolling back", message="1 created by this run", count=1))
    progress.emit(ev("started", "x", action="delete", phase="rollback"))
    progress.emit(ev("done", "x", action="delete", phase="rollback", message="rolled back"))
    lines = out.getvalue().splitlines()
    assert lines == [
        "deleting: 2 to delete",
        "q: deleting...",
        "[1/2] q: deleted (1.0s)",
        "b: deleting...",
        "[2/2] b: deleted (1.0s)",
        "rolling back: 1 created by this run",
        "x: deleting...",
        "[1/1] x: rolled back",
    ]


def test_plain_errors_of_planning_are_left_to_the_command() -> None:
    progress, out = plain()
    progress.emit(ev("phase", phase="planning", message="1 resources", count=1))
    progress.emit(ev("failed", "a", phase="planning", message="bad prop"))
    progress.emit(ev("phase", phase="applying", message="0 to change", count=0))
    assert out.getvalue() == ""


def test_heartbeat_for_anything_running_longer_than_ten_seconds() -> None:
    clock = Clock(1000.0)
    progress, out = plain(clock)
    progress.emit(ev("phase", phase="applying", message="2 to change", count=2))
    progress.emit(ev("started", "queue", action="create", time=1000.0))
    progress.emit(ev("started", "bucket", action="delete", time=1004.0))
    out.truncate(0)
    out.seek(0)
    progress.tick(1009.9)
    assert out.getvalue() == ""
    progress.tick(1010.0)
    assert out.getvalue().splitlines() == ["queue: still creating [10s elapsed]"]
    progress.tick(1014.0)
    progress.tick(1020.0)
    assert out.getvalue().splitlines()[1:] == [
        "bucket: still deleting [10s elapsed]",
        "queue: still creating [20s elapsed]",
    ]
    # A tick that comes late says so once, then beats every 10 s again from there.
    progress.emit(ev("done", "bucket", action="delete", message="deleted", elapsed=16.0))
    out.truncate(0)
    out.seek(0)
    progress.tick(1047.0)
    progress.tick(1049.0)
    assert out.getvalue().splitlines() == ["queue: still creating [47s elapsed]"]
    progress.tick(1050.0)
    assert out.getvalue().splitlines()[-1] == "queue: still creating [50s elapsed]"
    progress.emit(ev("done", "queue", action="create", message="created", elapsed=55.0))
    out.truncate(0)
    out.seek(0)
    progress.tick(2000.0)
    assert out.getvalue() == ""


def test_heartbeat_uses_the_injected_clock_when_events_carry_no_time() -> None:
    clock = Clock(50.0)
    progress, out = plain(clock)
    progress.emit(ev("started", "t", action="replace"))
    clock.now = 61.0
    progress.tick()
    assert out.getvalue().splitlines()[-1] == "t: still replacing [11s elapsed]"


# -- the live view --------------------------------------------------------------------------


def recording(width: int = 100) -> Console:
    return Console(
        file=io.StringIO(), record=True, force_terminal=True, width=width, color_system="truecolor"
    )


def screen(progress: LiveProgress) -> str:
    """What the console shows: the lines printed so far, then the live area as it is now."""
    area = recording(progress.console.width)
    area.print(progress.render())
    text = progress.console.export_text(clear=False) + area.export_text()
    return "\n".join(line.rstrip() for line in text.splitlines())


def test_live_view_shows_what_is_in_flight_with_elapsed_times_and_counts() -> None:
    clock = Clock(1000.0)
    progress = LiveProgress(mask=mask, clock=clock, console=recording())
    progress.emit(ev("phase", phase="planning", message="5 resources", count=5, time=998.0))
    for name in ("vpc", "queue"):
        progress.emit(ev("planned", name, action="create"))
    assert screen(progress).splitlines()[-1] == "planning: 2/5 planned [2.0s]"

    progress.emit(ev("phase", phase="applying", message="4 to change", count=4, time=1000.0))
    progress.emit(ev("started", "vpc", action="create", time=1000.0))
    progress.emit(ev("request", "vpc", operation="CREATE", request_token="tok-vpc"))
    progress.emit(ev("started", "queue", action="update", time=1001.0))
    clock.now = 1003.5
    shown = screen(progress).splitlines()
    assert shown[0] == "applying: 4 to change"
    assert re.fullmatch(r". vpc\s+creating\s+3\.5s\s+request tok-vpc", shown[1]), shown[1]
    assert re.fullmatch(r". queue\s+updating\s+2\.5s", shown[2]), shown[2]
    assert shown[3] == "applying: 2 in flight, 0 done, 0 failed, 0 skipped, 2 to go [3.5s]"

    # Time passes between events: the elapsed times follow the clock.
    clock.now = 1075.0
    assert "1m15s" in screen(progress).splitlines()[-3]

    progress.emit(ev("done", "vpc", action="create", message="created", elapsed=75.2))
    progress.emit(ev("failed", "queue", message=f"[/Tags/0] rejected: {SECRET} [bold]x"))
    progress.emit(ev("skipped", "subnet", message="depends on queue, which failed"))
    progress.emit(ev("note", message=f"queue failed: waiting for {SECRET}"))
    shown = screen(progress).splitlines()
    assert shown[-5:] == [
        "✓ vpc  created  1m15s",
        # Messages are text, never rich markup: brackets come out as they are.
        "✗ queue  FAILED  [/Tags/0] rejected: **** [bold]x",
        "- subnet  skipped  depends on queue, which failed",
        "queue failed: waiting for ****",
        "applying: 0 in flight, 1 done, 1 failed, 1 skipped, 1 to go [1m15s]",
    ]
    assert SECRET not in progress.console.export_text()


def test_live_area_is_bounded_whatever_the_stack_size() -> None:
    clock = Clock(0.0)
    progress = LiveProgress(clock=clock, console=recording())
    progress.emit(ev("phase", phase="applying", message="500 to change", count=500))
    for i in range(500):
        progress.emit(ev("started", f"r{i:03d}", action="create", time=0.0))
    for i in range(0, 500, 2):
        progress.emit(ev("done", f"r{i:03d}", action="create", message="created", elapsed=1.0))
    area = progress.console.export_text(clear=True)  # the printed lines
    assert len(area.splitlines()) == 1 + 250
    progress.console.print(progress.render())
    live = progress.console.export_text().splitlines()
    assert len(live) == LiveProgress.MAX_ROWS + 2
    # The oldest in flight first, then how many more, then the counts.
    assert live[0].split()[1] == "r001"
    assert live[-2].strip() == f"… and {250 - LiveProgress.MAX_ROWS} more in flight"
    assert live[-1].startswith("applying: 250 in flight, 250 done, 0 failed, 0 skipped, 0 to go")


def sgr_colours(text: str) -> list[str]:
    """Colour parameters (foreground/background, 8/16/256/true colour) of every SGR escape."""
    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        for p in params.split(";"):
            if p and (30 <= int(p) <= 49 or 90 <= int(p) <= 107):
                found.append(p)
    return found


def feed_a_failure(progress: LiveProgress) -> str:
    progress.emit(ev("phase", phase="applying", message="2 to change", count=2))
    progress.emit(ev("started", "a", action="create", time=0.0))
    progress.emit(ev("done", "a", action="create", message="created", elapsed=1.0))
    progress.emit(ev("failed", "b", message="denied"))
    progress.console.print(progress.render())
    stream = progress.console.file
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def test_no_color_means_no_colour_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = feed_a_failure(
        LiveProgress(clock=Clock(), console=make_console(io.StringIO(), force_terminal=True))
    )
    assert sgr_colours(coloured), "without NO_COLOR the view is coloured"

    monkeypatch.setenv("NO_COLOR", "1")
    plain_text = feed_a_failure(
        LiveProgress(clock=Clock(), console=make_console(io.StringIO(), force_terminal=True))
    )
    assert sgr_colours(plain_text) == []
    assert "✗ b  FAILED  denied" in re.sub(r"\x1b\[[0-9;]*m", "", plain_text)


def test_live_view_on_a_terminal_that_is_not_utf8() -> None:
    class Latin1(io.StringIO):
        @property
        def encoding(self) -> str:  # type: ignore[override]
            return "latin-1"

    console = Console(file=Latin1(), record=True, force_terminal=True, width=80)
    progress = LiveProgress(clock=Clock(), console=console)
    progress.emit(ev("started", "b", action="create", time=0.0))
    progress.emit(ev("done", "a", action="create", message="created", elapsed=1.0))
    progress.emit(ev("failed", "c", message="denied"))
    console.print(progress.render())
    text = console.export_text()
    assert text.splitlines()[:2] == ["+ a  created  1.0s", "x c  FAILED  denied"]
    assert text.splitlines()[2].startswith("- b  creating")
    text.encode("latin-1")


def test_live_view_runs_while_threads_report_at_once() -> None:
    # The refresh thread renders while workers print lines: neither may wait on the other
    # for ever (a line is never printed while the view's state lock is held).
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    progress = LiveProgress(console=console, refresh_per_second=200)
    progress.start()
    try:

        def worker(k: int) -> None:
            for i in range(150):
                name = f"w{k}-{i}"
                progress.emit(ev("started", name, action="create", time=0.0))
                progress.emit(ev("done", name, action="create", message="created", elapsed=0.1))

        threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads), "progress deadlocked"
    finally:
        progress.stop()
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert out.count("created") >= 600


def test_live_view_only_on_a_terminal_outside_ci() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert live_view_wanted(Tty(), {"TERM": "xterm-256color"})
    assert not live_view_wanted(Tty(), {"TERM": "xterm", "CI": "true"})
    assert not live_view_wanted(Tty(), {"TERM": "dumb"})
    assert not live_view_wanted(io.StringIO(), {"TERM": "xterm"})


# -- JSON lines ---------------------------------------------------------------------------


def test_json_lines_one_object_per_event_masked() -> None:
    out = io.StringIO()
    sink = JsonLinesEvents(out, mask=mask)
    sink.emit(ev("request", "a", operation="CREATE", request_token="tok", time=5.0))
    sink.emit(ev("failed", "a", message=f"no: {SECRET}", time=6.0))
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == {
        "state": "request",
        "resource": "a",
        "operation": "CREATE",
        "request_token": "tok",
        "time": 5.0,
    }
    assert second["message"] == "no: ****"


def test_notes_are_shown_masked_live_and_plain() -> None:
    # A saved plan's "left as it is" notes, or a stop-on-failure note, stay on screen.
    import io

    from rich.console import Console

    from stackdeploy.engine.events import RunEvent
    from stackdeploy.report.progress import LiveProgress, PlainProgress

    out = io.StringIO()
    live = LiveProgress(console=Console(file=out, width=200), mask=lambda s: s.replace("pw", "**"))
    live.emit(RunEvent(state="note", message="queue: left as it is (pw)"))
    assert "queue: left as it is (**)" in out.getvalue()
    plain_out = io.StringIO()
    PlainProgress(plain_out).emit(RunEvent(state="note", message="queue: left as it is"))
    assert plain_out.getvalue() == "queue: left as it is\n"
