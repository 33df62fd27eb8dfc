"""Compositions of the stages that the daemons run; no sockets here, so tests reach them directly."""
