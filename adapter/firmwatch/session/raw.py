"""Raw address watches (``0x20000010:4``): memory with no symbol, as the seed collector allowed.

They mimic the compiled-expression interface the session uses (``static_regions``, ``bind``,
``evaluate``) so the rest of the session needs no special case. Sizes 1, 2, 4 and 8 decode to
unsigned integers in the target's byte order; other sizes stay hex.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from firmwatch.errors import UserError
from firmwatch.targets.base import Region

RAW_RE = re.compile(r"^\s*(0[xX][0-9a-fA-F]+|\d+)\s*:\s*(\d+)\s*$")


def parse_raw(text: str) -> tuple[int, int] | None:
    m = RAW_RE.match(text)
    if not m:
        return None
    return int(m.group(1), 0), int(m.group(2))


@dataclass(frozen=True)
class RawValue:
    address: int
    raw: bytes
    byteorder: str

    @property
    def scalar(self) -> int | str:
        if len(self.raw) in (1, 2, 4, 8):
            return int.from_bytes(self.raw, self.byteorder)  # type: ignore[arg-type]
        return self.raw.hex()

    @property
    def type_name(self) -> str:
        return f"{len(self.raw)} bytes"

    @property
    def is_aggregate(self) -> bool:
        return False

    def display(self, hex: bool = False) -> str:
        s = self.scalar
        if isinstance(s, int):
            return f"0x{s:0{2 * len(self.raw)}x}" if hex else str(s)
        return s

    def children(self, start: int = 0, count: int | None = None) -> list:
        return []


@dataclass(frozen=True)
class RawBound:
    regions: list[Region]
    byteorder: str

    def decode(self, chunks: Sequence[bytes]) -> RawValue:
        return RawValue(self.regions[0].address, chunks[0], self.byteorder)


class RawExpression:
    def __init__(self, text: str, address: int, size: int, byteorder: str):
        if size <= 0:
            raise ValueError(f"'{text}': a raw watch needs a size above 0")
        self.text = text
        self.address = address
        self.size = size
        self.type = None
        self.type_name = f"{size} bytes"
        self.format = None
        self.read_only = False
        self.is_lvalue = True
        self._bound = RawBound([Region(address, size)], byteorder)

    def static_regions(self) -> list[Region]:
        return list(self._bound.regions)

    def bind(self, read: Callable[[int, int], bytes]) -> RawBound:
        return self._bound

    def evaluate(self, read: Callable[[int, int], bytes]) -> RawValue:
        return self._bound.decode([read(self.address, self.size)])

    def encode(self, text: str) -> bytes:
        """A raw watch takes an integer (sizes 1, 2, 4, 8) or the exact bytes in hex."""
        text = text.strip()
        if self.size in (1, 2, 4, 8):
            try:
                n = int(text, 0)
            except ValueError:
                raise RawValueError(f"'{text}' is not an integer; give e.g. 42, 0x2a or -1.") from None
            lo, hi = -(1 << (8 * self.size - 1)), (1 << (8 * self.size)) - 1
            if not lo <= n <= hi:
                raise RawValueError(f"{n} does not fit in {self.size} bytes ({lo}..{hi}).")
            return (n & ((1 << (8 * self.size)) - 1)).to_bytes(self.size, self._bound.byteorder)  # type: ignore[arg-type]
        try:
            data = bytes.fromhex(text.removeprefix("0x"))
        except ValueError:
            raise RawValueError(f"'{text}' is not hex bytes; give {self.size} bytes as hex.") from None
        if len(data) != self.size:
            raise RawValueError(f"give exactly {self.size} bytes as hex ({2 * self.size} digits), not {len(data)}.")
        return data


class RawValueError(UserError, ValueError):
    """A raw address expression that cannot be read as written; ``str()`` is one sentence."""
