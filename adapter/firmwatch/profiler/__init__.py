"""Where the time goes: the MiniProfiler protocol, PC sampling, and the analysis of both.

An engine package beside ``session``: it uses ``symbols`` (names, lines) and ``targets``
(the execution-control protocol for PC samples) and knows nothing of DAP, argparse or VS Code.

* ``protocol``  the MiniProfiler wire format (seed 004): command packets, response frames.
* ``link``      the device half over a serial port: commands, the frame stream, loss accounting.
* ``sampler``   zero-instrumentation PC sampling over a GDB server.
* ``calltree``  calls rebuilt from (entry, duration, depth) records; the 32-bit wrap; losses.
* ``flat``      per-function statistics; ``hotspots`` per-line counts of samples.
* ``export``    speedscope JSON, Chrome/Perfetto trace events, collapsed stacks.
* ``run``       one profiling run from start to report, with live snapshots for front ends.
"""
