"""``firmwatch convert IN OUT``: a recording from one format into another (CSV, Parquet, VCD)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a recording between CSV, Parquet and VCD (or finish an "
                                       "unfinished Parquet recording's .parquet.parts)")
    p.add_argument("input", help="a recording: .csv, .parquet, .vcd, or NAME.parquet.parts")
    p.add_argument("output", help="the file to write; its extension names the format unless --format does")
    p.add_argument("--format", choices=("csv", "parquet", "vcd"), help="the output's format")
    p.add_argument("--from", dest="source_format", choices=("csv", "parquet", "vcd"), help="the input's format "
                   "(default: from its extension)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from firmwatch.session.formats import convert

    c = convert(args.input, args.output, source_format=args.source_format, format=args.format)
    print(f"converted {c.rows} rows from {c.source_format} to {c.format}: {args.output}", flush=True)
    if c.late:
        print(f"  {c.late} rows could not be placed in the VCD's time order and are not in it", flush=True)
    return 0
