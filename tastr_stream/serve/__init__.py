"""Serving: Prometheus metrics, the live lookup API (ZeroMQ and HTTP) and the web page."""
