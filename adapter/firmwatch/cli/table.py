"""The live watch table shared by ``watch``, ``record`` and ``demo``.

It fits the width it is given: the watch, its value, its rate and what is missing are always
shown (names and values are shortened with "…" when they must be); the type column comes
when there is room, and notes (why a watch is polled, cannot be sampled, the link's state)
go in their own column when it fits and otherwise under the table, one line per watch, never
dropped. ANSI styling only when asked for (a terminal); a pipe gets plain text.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from firmwatch.session.session import Session

MAX_VALUE_CHARS = 60
NAME_MIN, VALUE_MIN = 10, 12
GAP = "  "

_BOLD, _DIM, _YELLOW, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[33m", "\x1b[0m"


@dataclass
class Row:
    name: str
    value: str
    type: str
    rate: str
    missing: str
    note: str


def table_rows(session: Session, hex_values: bool = False) -> list[Row]:
    rows = []
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
        rows.append(Row(w.text, value, w.compiled.type_name, f"{w.stats.rate():.1f}/{w.rate_hz:g}",
                        str(w.stats.missing), note))
    return rows


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def render_table(rows: list[Row], width: int = 80, color: bool = False) -> list[str]:
    """The table's lines, none wider than ``width``."""
    head = Row("watch", "value", "type", "rate Hz", "missing", "note")
    every = [head, *rows]
    rate_w = max(len(r.rate) for r in every)
    miss_w = max(len(r.missing) for r in every)
    name_need = max(len(r.name) for r in every)
    value_need = min(MAX_VALUE_CHARS, max(len(r.value) for r in every))
    type_need = max(len(r.type) for r in every)
    note_need = max((len(r.note) for r in rows), default=0)
    fixed = rate_w + miss_w + 3 * len(GAP)
    # the four columns always shown share what is left; names and values first
    room = max(NAME_MIN + VALUE_MIN, width - fixed)
    name_w = min(name_need, max(NAME_MIN, room // 2 if value_need > room // 2 else room - value_need))
    value_w = min(value_need, room - name_w)
    if value_w < VALUE_MIN and name_w > NAME_MIN:  # give the value its minimum back from the name
        name_w = max(NAME_MIN, room - VALUE_MIN)
        value_w = min(value_need, room - name_w)
    spare = width - fixed - name_w - value_w
    show_type = type_need + len(GAP) <= spare
    if show_type:
        spare -= type_need + len(GAP)
    notes_inline = note_need + len(GAP) <= spare  # a note is a sentence: whole, or on its own line
    note_w = note_need

    def style(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if color and text.strip() else text

    def line(r: Row, header: bool = False) -> str:
        cells = [_fit(r.name, name_w).ljust(name_w), _fit(r.value, value_w).ljust(value_w)]
        if show_type:
            t = r.type.ljust(type_need)
            cells.append(t if header else style(t, _DIM))
        cells += [r.rate.rjust(rate_w), r.missing.rjust(miss_w)]
        if notes_inline and note_w:
            n = _fit(r.note, note_w).ljust(note_w)
            cells.append(n if header else style(n, _YELLOW))
        text = GAP.join(cells).rstrip()
        return style(text, _BOLD) if header else text

    out = [line(head, header=True)] + [line(r) for r in rows]
    if not notes_inline:  # notes too wide for a column: one line per watch below, wrapped
        for r in rows:
            if r.note:
                wrapped = textwrap.wrap(f"{r.name}: {r.note}", width=width, subsequent_indent="    ")
                out += [style(x, _YELLOW) for x in wrapped]
    return out


def status_line(session: Session) -> str:
    st = session.target.stats()
    return (
        f"{session.info.name} · build id {session.build_id_status} · "
        f"samples {st.samples} · lost {st.lost} · corrupt frames {st.corrupt_frames}"
        + (f" · reconnects {st.reconnects}" if st.reconnects else "")
        + (f" · halted {100 * st.halted_fraction:.2f} %" if st.halted_fraction else "")
        + (f" · lock skips {st.lock_skips}" if st.lock_skips else "")
    )


def render(session: Session, width: int = 80, color: bool = False, hex_values: bool = False) -> str:
    """The table and the status line under it, every line at most ``width`` wide."""
    lines = render_table(table_rows(session, hex_values), width, color)
    status = textwrap.wrap(status_line(session), width=width)
    lines += [f"{_DIM}{x}{_RESET}" if color else x for x in status]
    return "\n".join(lines)


def render_ansi(session: Session, width: int = 120, hex_values: bool = False) -> str:
    return render(session, width, color=True, hex_values=hex_values)


def build_table(session: Session, hex_values: bool = False, width: int | None = None) -> object:
    """The table as a rich renderable (for ``rich.live``), fitted to ``width`` or the terminal."""
    import shutil

    from rich.text import Text

    w = width or shutil.get_terminal_size((100, 24)).columns
    return Text.from_ansi(render(session, w, color=True, hex_values=hex_values))
