"""The live watch table shared by ``watch``, ``record`` and ``demo``."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from firmwatch.session.session import Session

MAX_VALUE_CHARS = 60


def build_table(session: Session, hex_values: bool = False) -> Table:
    t = Table(expand=False, show_edge=False, pad_edge=False, header_style="bold")
    names = [w.text for w in session.watches.values()]
    t.add_column("watch", no_wrap=True, min_width=min(40, max((len(n) for n in names), default=5)))
    t.add_column("value", no_wrap=True, max_width=MAX_VALUE_CHARS)
    t.add_column("type", no_wrap=True, style="dim")
    t.add_column("rate Hz", justify="right", no_wrap=True)
    t.add_column("missing", justify="right", no_wrap=True)
    t.add_column("note", no_wrap=True, style="yellow")
    for w in list(session.watches.values()):
        if w.error:
            value, note = "", w.error
        else:
            polled = session.polled_reason(w)
            note = f"polled: {polled}" if polled else ""
            try:
                v = w.value()
                value = "…" if v is None else v.display(hex=hex_values)
            except Exception as e:  # a decode bug must not take the table down
                value, note = "", f"cannot decode: {e}"
        if len(value) > MAX_VALUE_CHARS:
            value = value[: MAX_VALUE_CHARS - 1] + "…"
        t.add_row(
            w.text,
            value,
            w.compiled.type_name,
            f"{w.stats.rate():.1f}/{w.rate_hz:g}",
            str(w.stats.missing),
            note,
        )
    return t


def status_line(session: Session) -> str:
    st = session.target.stats()
    return (
        f"{session.info.name} · build id {session.build_id_status} · "
        f"samples {st.samples} · lost {st.lost} · corrupt frames {st.corrupt_frames}"
        + (f" · reconnects {st.reconnects}" if st.reconnects else "")
        + (f" · halted {100 * st.halted_fraction:.2f} %" if st.halted_fraction else "")
        + (f" · lock skips {st.lock_skips}" if st.lock_skips else "")
    )


def render_ansi(session: Session, width: int = 120, hex_values: bool = False) -> str:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width, color_system="standard")
    console.print(build_table(session, hex_values))
    console.print(status_line(session), style="dim")
    return buf.getvalue().rstrip("\n")
