"""The live web page the associator serves: static assets plus the camera-graph payload it draws.

The page is plain HTML/JS/CSS shipped as package data (no build step, no external URLs: sites
running this often have no internet). It talks only to the JSON API in :mod:`..http_api`.
"""

from .assets import PAGE_PATHS, load_pages
from .graph import network_view, transfer_now

__all__ = ["PAGE_PATHS", "load_pages", "network_view", "transfer_now"]
