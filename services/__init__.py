"""Thin daemon mains: each wires library pieces from ``tastr_stream`` to sockets, signals and metrics."""
