"""Drawing a capture without a GUI: braille panels in a terminal, a PNG image.

Each numeric channel gets its own panel (their ranges differ: a counter beside a sine), with
its minimum and maximum; the trigger sample is a vertical line in every panel and the trigger
level a horizontal one in the trigger channel's. The PNG is written with zlib alone and a small
built-in font, so no imaging library is needed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

from firmwatch.capture.result import CaptureResult

PALETTE = [(78, 155, 255), (240, 160, 48), (78, 201, 122), (224, 86, 122), (176, 124, 240), (64, 200, 200),
           (208, 208, 64), (255, 127, 80)]  # fmt: skip
ANSI = ["\033[94m", "\033[33m", "\033[92m", "\033[91m", "\033[95m", "\033[96m", "\033[93m", "\033[31m"]


def _panels(result: CaptureResult) -> list[tuple[int, list[float | None]]]:
    out = []
    for i in range(len(result.channels)):
        ys = result.numeric(i)
        if any(y is not None for y in ys):
            out.append((i, ys))
    return out


def _range(ys: Sequence[float | None], extra: float | None = None) -> tuple[float, float]:
    vals = [y for y in ys if y is not None]
    if extra is not None:
        vals.append(extra)
    lo, hi = min(vals), max(vals)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    return lo, hi


def _fmt(v: float) -> str:
    return f"{v:.6g}"


# ------------------------------------------------------------------------------------- terminal

_BRAILLE = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # dot bits by (row, column)


def terminal_plot(result: CaptureResult, width: int = 100, rows: int = 6, color: bool = True) -> str:
    """One braille panel per numeric channel, ``rows`` text rows high, ``width`` columns wide."""
    label_w = 12
    cols = max(10, width - label_w - 2)
    dots_w, dots_h = cols * 2, rows * 4
    n = result.samples
    out: list[str] = []
    trig_x = round(result.trigger_index * (dots_w - 1) / max(n - 1, 1))
    for k, (i, ys) in enumerate(_panels(result)):
        level = result.level if result.trigger_channel == i else None
        lo, hi = _range(ys, level)
        grid = [[0] * cols for _ in range(rows)]

        def dot(x: int, y: int, grid: list[list[int]] = grid) -> None:
            if 0 <= x < dots_w and 0 <= y < dots_h:
                r, c = divmod(y, 4)[0], x // 2
                grid[r][c] |= _BRAILLE[y % 4][x % 2]

        def to_y(v: float, lo: float = lo, hi: float = hi) -> int:
            return round((hi - v) * (dots_h - 1) / (hi - lo))

        for y in range(0, dots_h, 2):
            dot(trig_x, y)
        if level is not None:
            for x in range(0, dots_w, 3):
                dot(x, to_y(float(level)))
        prev = None
        for s in range(n):
            y = ys[s]
            x = round(s * (dots_w - 1) / max(n - 1, 1))
            if y is None:
                prev = None
                continue
            yy = to_y(y)
            if prev is not None and abs(prev[1] - yy) > 1:  # join the step with a vertical run
                for v in range(min(prev[1], yy), max(prev[1], yy) + 1):
                    dot(x, v)
            dot(x, yy)
            prev = (x, yy)
        c0, c1 = (ANSI[k % len(ANSI)], "\033[0m") if color else ("", "")
        out.append(f"{c0}{result.channels[i]}{c1}" + (f"  (trigger level {_fmt(float(level))})" if level is not None else ""))
        for r in range(rows):
            label = _fmt(hi) if r == 0 else _fmt(lo) if r == rows - 1 else ""
            out.append(f"{label:>{label_w}} {c0}" + "".join(chr(0x2800 + b) for b in grid[r]) + c1)
    t0, t1 = result.times[0], result.times[-1]
    axis = f"{_fmt(t0)} s"
    right = f"{_fmt(t1)} s"
    out.append(" " * (label_w + 1) + axis + " " * max(1, cols - len(axis) - len(right)) + right)
    out.append(" " * (label_w + 1) + " " * (trig_x // 2) + "^ trigger")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ PNG

# A 3x5 font: five rows of three bits per glyph (lower case is drawn as upper case).
_FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001010010010",
    "8": "111101111101111", "9": "111101111001111", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111", "F": "111100110100100",
    "G": "011100101101011", "H": "101101111101101", "I": "111010010010111", "J": "001001001101010",
    "K": "101101110101101", "L": "100100100100111", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101",
    "S": "011100010001110", "T": "111010010010010", "U": "101101101101111", "V": "101101101101010",
    "W": "101101111111101", "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
    ".": "000000000000010", "-": "000000111000000", "+": "000010111010000", ":": "000010000010000",
    "_": "000000000000111", "(": "001010010010001", ")": "100010010010100", "[": "011010010010011",
    "]": "110010010010110", "'": "010010000000000", "%": "101001010100101", "/": "001001010100100",
    "=": "000111000111000", "<": "001010100010001", ">": "100010001010100", ",": "000000000010010",
    "*": "000101010101000", "&": "010101010101011", "|": "010010010010010", " ": "000000000000000",
    "^": "010101000000000", "#": "101111101111101", "!": "010010010000010", "?": "110001010000010",
}  # fmt: skip


class _Canvas:
    def __init__(self, w: int, h: int, bg: tuple[int, int, int] = (255, 255, 255)):
        self.w, self.h = w, h
        self.px = bytearray(bytes(bg) * (w * h))

    def set(self, x: int, y: int, c: tuple[int, int, int]) -> None:
        if 0 <= x < self.w and 0 <= y < self.h:
            i = 3 * (y * self.w + x)
            self.px[i : i + 3] = bytes(c)

    def line(self, x0: int, y0: int, x1: int, y1: int, c: tuple[int, int, int], dash: int = 0) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err, k = dx + dy, 0
        while True:
            if not dash or (k // dash) % 2 == 0:
                self.set(x0, y0, c)
            k += 1
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, s: str, c: tuple[int, int, int], scale: int = 2) -> None:
        for ch in s:
            g = _FONT.get(ch.upper(), _FONT["?"])
            for r in range(5):
                for col in range(3):
                    if g[r * 3 + col] == "1":
                        for a in range(scale):
                            for b in range(scale):
                                self.set(x + col * scale + a, y + r * scale + b, c)
            x += 4 * scale

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(self.px[3 * y * self.w : 3 * (y + 1) * self.w]) for y in range(self.h))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))  # fmt: skip


def png_bytes(result: CaptureResult, width: int = 1000, panel: int = 170) -> bytes:
    panels = _panels(result)
    margin_l, margin_r, top, gap = 90, 20, 30, 26
    h = top + len(panels) * (panel + gap) + 40
    cv = _Canvas(width, h)
    grey, dark, red = (215, 215, 215), (60, 60, 60), (210, 40, 40)
    cv.text(margin_l, 8, result.summary().splitlines()[0][: (width - margin_l) // 8], dark)
    n = result.samples
    x0, x1 = margin_l, width - margin_r

    def to_x(s: int) -> int:
        return x0 + round(s * (x1 - x0) / max(n - 1, 1))

    for k, (i, ys) in enumerate(panels):
        py = top + k * (panel + gap) + 14
        level = result.level if result.trigger_channel == i else None
        lo, hi = _range(ys, level)

        def to_y(v: float, lo: float = lo, hi: float = hi, py: int = py) -> int:
            return py + round((hi - v) * (panel - 1) / (hi - lo))

        cv.text(x0, py - 13, result.channels[i], PALETTE[k % len(PALETTE)])
        for gy in range(5):
            y = py + gy * (panel - 1) // 4
            cv.line(x0, y, x1, y, grey)
        cv.text(4, py - 4, _fmt(hi)[:10], dark)
        cv.text(4, py + panel - 8, _fmt(lo)[:10], dark)
        tx = to_x(result.trigger_index)
        cv.line(tx, py, tx, py + panel - 1, red, dash=4)
        if level is not None:
            ly = to_y(float(level))
            cv.line(x0, ly, x1, ly, red, dash=6)
        color = PALETTE[k % len(PALETTE)]
        prev = None
        for s in range(n):
            y = ys[s]
            if y is None:
                prev = None
                continue
            pt = (to_x(s), to_y(y))
            if prev is not None:
                cv.line(prev[0], prev[1], pt[0], prev[1], color)  # a sample holds until the next
                cv.line(pt[0], prev[1], pt[0], pt[1], color)
            else:
                cv.set(*pt, color)
            prev = pt
    ay = h - 24
    cv.text(x0, ay, f"{_fmt(result.times[0])} S", dark)
    right = f"{_fmt(result.times[-1])} S"
    cv.text(x1 - len(right) * 8, ay, right, dark)
    cv.text(to_x(result.trigger_index) - 28, ay, "TRIGGER", red)
    return cv.png()


def write_png(result: CaptureResult, path: str, width: int = 1000) -> None:
    with open(path, "wb") as f:
        f.write(png_bytes(result, width))
