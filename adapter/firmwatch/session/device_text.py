"""Text the firmware prints on the streamer's UART between binary frames, as output lines.

The streamer's frame decoder skips bytes outside frames (docs/protocol.md); a firmware that also
logs with printf on the same UART puts its text exactly there. This extractor walks the same raw
bytes by frame length only (no CRC: a false sync inside text costs at most that frame's worth of
text) and returns complete printable lines. Binary mode only: in text mode every line is protocol.
"""

from __future__ import annotations

SYNC = b"\xaa\x55"
FRAME_OVERHEAD = 8  # sync 2, type 1, length 2, crc 2, terminator 1
MAX_LINE = 512


class DeviceText:
    def __init__(self) -> None:
        self._buf = b""
        self._skip = 0  # bytes of the current frame still to pass over
        self._line = bytearray()

    def feed(self, data: bytes) -> list[str]:
        buf = self._buf + data if self._buf else data
        text = bytearray()
        pos = 0
        n = len(buf)
        while pos < n:
            if self._skip:
                k = min(self._skip, n - pos)
                self._skip -= k
                pos += k
                continue
            i = buf.find(SYNC, pos)
            if i < 0:
                end = n - 1 if buf[n - 1 : n] == b"\xaa" else n  # a sync may straddle two reads
                text += buf[pos:end]
                pos = end
                break
            text += buf[pos:i]
            if i + 5 > n:
                pos = i
                break
            self._skip = (buf[i + 3] | (buf[i + 4] << 8)) + FRAME_OVERHEAD
            pos = i
        self._buf = buf[pos:] if pos < n else b""
        return self._lines(text) if text else []

    def _lines(self, text: bytearray) -> list[str]:
        out = []
        for b in text:
            if b == 0x0A or len(self._line) >= MAX_LINE:
                line = self._line.decode("utf-8", "replace").rstrip("\r")
                self._line.clear()
                if line.strip() and _printable(line):
                    out.append(line)
                if b != 0x0A:
                    self._line.append(b)
            else:
                self._line.append(b)
        return out


def _printable(line: str) -> bool:
    """Line noise (a glitch, a partial frame) is mostly control characters: not worth showing."""
    good = sum(1 for c in line if c.isprintable() or c == "\t")
    return good >= 0.9 * len(line)
