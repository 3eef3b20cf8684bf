"""Triggered capture: an oscilloscope for firmware variables (docs/capture.md).

:class:`~firmwatch.capture.engine.CaptureEngine` arms a capture on the device (firmware with the
capture module) or on the host, and delivers :class:`~firmwatch.capture.result.CaptureResult`\\ s.
"""
