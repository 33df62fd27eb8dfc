"""Tracklets: the builder (crops from full-resolution frames), the batched Re-ID extractor and
live weight hot-swap."""
