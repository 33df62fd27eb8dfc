"""``tastr-stream status``: one screen with every daemon's health, from their Prometheus endpoints.

  tastr-stream status --config FILE [--host HOST] [--metrics [NAME=]URL ...] [--timeout S] [--json]

Targets come from the config (associator ``metrics_port``, one ingest per camera at
``metrics_port_base + camera index``, trainer ``metrics_port``) and/or explicit ``--metrics`` URLs;
an explicit URL's daemon kind is read from what it exports. Each endpoint is scraped once and its
text-format metrics summarised in one row. Exit code 0 when every daemon is up, 1 otherwise, so
scripts and supervisors can use it as a health check.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from ..errors import TastrError

KINDS = ("associator", "ingest", "trainer")
Samples = dict[str, list[tuple[dict[str, str], float]]]


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    kind: str = ""        # "" = infer from the exported metrics
    error: str = ""       # set when the URL cannot be known (a random port in the config)


@dataclass
class Health:
    name: str
    kind: str
    url: str
    up: bool
    model_version: int | None = None
    details: dict[str, float | str] = field(default_factory=dict)
    error: str = ""


def register(sub) -> None:
    p = sub.add_parser("status", help="health of every daemon, scraped from their metrics endpoints")
    p.add_argument("--config", help="TOML config (metrics ports of the associator, ingest cameras, trainer)")
    p.add_argument("--host", default="127.0.0.1", help="host the config's metrics ports are on")
    p.add_argument("--metrics", action="append", default=[], metavar="[NAME=]URL",
                   help="an extra metrics endpoint, e.g. ingest-cam3=http://10.0.0.7:9622/metrics (repeatable)")
    p.add_argument("--run", metavar="DIR", help="a demo/replay run folder: its daemons.json names every "
                                                "daemon's metrics port (they are random there)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per scrape")
    p.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    p.set_defaults(func=run)


def _url(host: str, port: int) -> str:
    return f"http://{host}:{port}/metrics"


def targets_from_config(cfg, host: str) -> list[Target]:
    """One target per daemon the config describes; a port of 0 (random) cannot be scraped by config."""
    def target(name: str, kind: str, port: int, field_name: str) -> Target:
        if port == 0:
            return Target(name, "", kind, f"{field_name} = 0 (random port); pass --metrics URL")
        return Target(name, _url(host, port), kind)

    out = [target("associator", "associator", cfg.associator.metrics_port, "associator.metrics_port")]
    base = cfg.ingest.metrics_port_base
    for i, cam in enumerate(cfg.network.camera_ids):
        out.append(target(f"ingest {cam}", "ingest", base + i if base else 0, "ingest.metrics_port_base"))
    out.append(target("trainer", "trainer", cfg.trainer.metrics_port, "trainer.metrics_port"))
    return out


def targets_from_run(run_dir: str, host: str) -> list[Target]:
    """Targets from the ``daemons.json`` a demo or replay writes: ``[{name, kind, metrics_port}]``."""
    path = Path(run_dir) / "daemons.json"
    try:
        rows = json.loads(path.read_text())
        return [Target(str(r["name"]), _url(host, int(r["metrics_port"])), str(r.get("kind", ""))) for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TastrError(f"{path}: cannot read the run's daemon list ({exc}); is a demo or replay running there?") from None


def parse_target(spec: str) -> Target:
    name, sep, url = spec.partition("=")
    if not sep or "://" in name:
        name, url = "", spec
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise TastrError(f"--metrics needs an http(s) URL, optionally NAME=URL, got {spec!r}")
    if parsed.path in ("", "/"):
        url = url.rstrip("/") + "/metrics"
    return Target(name or parsed.netloc, url)


def parse_metrics(text: str) -> Samples:
    """Prometheus text format -> ``{sample_name: [(labels, value), ...]}``."""
    from prometheus_client.parser import text_string_to_metric_families

    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return out


def _total(samples: Samples, name: str, **labels: str) -> float | None:
    rows = [v for lab, v in samples.get(name, []) if all(lab.get(k) == want for k, want in labels.items())]
    return sum(rows) if rows else None


def infer_kind(samples: Samples) -> str:
    for labels, _ in samples.get("tastr_model_version", []):
        if labels.get("daemon") in KINDS:
            return labels["daemon"]
    for kind, prefix in (("associator", "tastr_assoc_"), ("ingest", "tastr_ingest_"), ("trainer", "tastr_trainer_")):
        if any(name.startswith(prefix) for name in samples):
            return kind
    return "unknown"


def summarise(kind: str, samples: Samples) -> tuple[int | None, dict[str, float | str]]:
    """The model version in use and the few figures that say whether this daemon is healthy."""
    version = _total(samples, "tastr_model_version")
    d: dict[str, float | str] = {}
    if kind == "ingest":
        d["fps"] = _total(samples, "tastr_ingest_fps")
        d["dropped"] = _total(samples, "tastr_ingest_frames_dropped_total")
        d["spool_dropped"] = _total(samples, "tastr_ingest_spool_dropped_total")
        d["published"] = _total(samples, "tastr_ingest_tracklets_published_total")
        d["acked"] = _total(samples, "tastr_ingest_tracklets_acked_total")
    elif kind == "associator":
        d["tracklets"] = _total(samples, "tastr_store_tracklets")
        d["received"] = _total(samples, "tastr_assoc_tracklets_received_total")
        d["identities"] = _total(samples, "tastr_assoc_identities")
        for labels, v in sorted(samples.get("tastr_assoc_links", []), key=lambda r: r[0].get("status", "")):
            d[f"links_{labels.get('status', '?')}"] = v
        d["rejected"] = _total(samples, "tastr_assoc_messages_rejected_total")
    elif kind == "trainer":
        d["rounds"] = _total(samples, "tastr_trainer_rounds_total")
        d["loss"] = _total(samples, "tastr_trainer_loss")
        d["images_per_s"] = _total(samples, "tastr_trainer_images_per_second")
    return (int(version) if version is not None else None), {k: v for k, v in d.items() if v is not None}


def scrape(target: Target, timeout_s: float) -> Health:
    """Fetch and summarise one endpoint; every failure becomes ``up=False`` with its reason."""
    if target.error:
        return Health(target.name, target.kind, target.url, False, error=target.error)
    try:
        with urllib.request.urlopen(target.url, timeout=timeout_s) as resp:
            text = resp.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as e:
        return Health(target.name, target.kind, target.url, False, error=f"HTTP {e.code} {e.reason}")
    except urllib.error.URLError as e:
        return Health(target.name, target.kind, target.url, False, error=f"unreachable: {e.reason}")
    except (socket.timeout, TimeoutError, ConnectionError) as e:
        return Health(target.name, target.kind, target.url, False, error=f"unreachable: {e or type(e).__name__}")
    try:
        samples = parse_metrics(text)
    except (ValueError, IndexError) as e:  # the parser's errors for text that is not the exposition format
        return Health(target.name, target.kind, target.url, False, error=f"not Prometheus text: {str(e)[:120]}")
    kind = target.kind or infer_kind(samples)
    version, details = summarise(kind, samples)
    return Health(target.name, kind, target.url, True, version, details)


def _fmt(v: float | str) -> str:
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else f"{v:.3g}"
    return str(v)


def render_table(rows: list[Health]) -> str:
    header = ("DAEMON", "STATE", "MODEL", "DETAILS", "LAST ERROR")
    lines = [(h.name, "up" if h.up else "DOWN", "-" if h.model_version is None else f"v{h.model_version}",
              " ".join(f"{k}={_fmt(v)}" for k, v in h.details.items()) or "-", h.error or "-") for h in rows]
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header) - 1)]
    out = []
    for r in [header, *lines]:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    up = sum(h.up for h in rows)
    out.append(f"{up}/{len(rows)} up")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise TastrError(f"--timeout must be > 0 seconds, got {args.timeout}")
    targets: list[Target] = []
    if args.config:
        from ..config import load_config

        targets += targets_from_config(load_config(args.config), args.host)
    if args.run:
        targets += targets_from_run(args.run, args.host)
    targets += [parse_target(spec) for spec in args.metrics]
    if not targets:
        raise TastrError("give --config FILE, --run DIR and/or --metrics URL")
    # Concurrently, so one unreachable box costs one timeout, not one per daemon.
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        rows = list(pool.map(lambda t: scrape(t, args.timeout), targets))
    if args.json:
        json.dump([asdict(h) for h in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_table(rows) + "\n")
    return 0 if all(h.up for h in rows) else 1
