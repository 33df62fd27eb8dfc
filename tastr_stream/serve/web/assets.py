"""Load the page's static files from package data, for :class:`~tastr_stream.serve.http_api.HttpApi`.

Read through :mod:`importlib.resources` so the page works the same from a source checkout, an
installed wheel or a zipped package; a missing asset is a packaging bug and fails at start-up,
not when the first browser asks for it.
"""

from __future__ import annotations

from importlib import resources

from ...errors import ConfigError

# URL path -> (file name in this package, Content-Type).
PAGE_PATHS: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/graph.js": ("graph.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}


def load_pages() -> dict[str, tuple[str, bytes]]:
    """``{url_path: (content_type, body)}`` for every asset of the page (the ``pages`` of HttpApi)."""
    root = resources.files(__package__)
    out: dict[str, tuple[str, bytes]] = {}
    for url_path, (name, ctype) in PAGE_PATHS.items():
        try:
            body = root.joinpath(name).read_bytes()
        except (FileNotFoundError, OSError) as e:
            raise ConfigError(f"web page asset {name!r} is missing from package {__package__} "
                              f"(is package-data configured?): {e}") from None
        out[url_path] = (ctype, body)
    return out
