"""Transports that move bytes at addresses: streamer (serial/TCP), gdb, rsp."""
