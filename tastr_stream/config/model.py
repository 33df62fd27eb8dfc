"""``[model]``: the one Re-ID model every daemon serves, trains and compares with.

Ingest embeds with it, the associator re-embeds its window and searches images with it, and the
trainer trains it and publishes new versions of it; a checkpoint of any other architecture or
embedding size is refused wherever it is announced (``models.lifecycle``). One section, so the
three cannot disagree.

Before ``[model]`` existed the same settings lived in ``[ingest.embed]`` (``backbone``, ``emb_dim``,
``weights_path``) and ``[trainer]`` (``backbone``, ``emb_dim``). Those keys are still read, as
deprecated aliases (``merge_model_aliases``): without ``[model]`` they fill it; with it they must
agree with it; two that disagree are one ConfigError line naming both fields and values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError

from .base import Section

# Every architecture the model code builds (models.backbones.BACKBONES; a test holds the two
# equal): a trunk with the original head, or "<trunk>+partcolour" (CNN stripes fused with a colour
# descriptor, the zero-label default; models/partcolour.py, benchmarks/bench_zero_label.py). A
# Literal rather than an import, so reading a config never imports torch.
Backbone = Literal["resnet50", "mobilenetv2", "efficientnet-lite0", "tiny",
                   "resnet50+partcolour", "mobilenetv2+partcolour", "efficientnet-lite0+partcolour",
                   "tiny+partcolour"]
DEFAULT_BACKBONE = "mobilenetv2+partcolour"
DEFAULT_EMB_DIM = 512


class ModelConfig(Section):
    backbone: Backbone = DEFAULT_BACKBONE
    emb_dim: int = Field(default=DEFAULT_EMB_DIM, ge=8, le=4096)
    # A tastr checkpoint every process starts from (its header version serves; it must match
    # backbone and emb_dim). Empty: backbone with its packaged ImageNet weights, version 0.
    weights_path: str = ""
    # A tracklet's embedding is the mean over at most this many of its crops, spread evenly over
    # it (``tracklet.builder.crops_to_embed``): the edge and the associator's re-embedding take the
    # same ones, and all kept crops are still stored for training and the web page. The default,
    # 60, is every crop a tracklet keeps (``ingest.tracklet.max_crops``). Fewer is a knob for a box
    # short of CPU, at a measured cost (RESULTS.md): 8 is a quarter of the embedding work on
    # bench_quality, where it links as well, but the demo's IDF1 drops 0.01-0.05 with 8 or 16.
    crops_per_tracklet: int = Field(default=60, ge=1, le=1000)


# (section, key in that section, key in [model]) of every deprecated alias.
ALIASES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("ingest", "embed"), "backbone", "backbone"),
    (("ingest", "embed"), "emb_dim", "emb_dim"),
    (("ingest", "embed"), "weights_path", "weights_path"),
    (("trainer",), "backbone", "backbone"),
    (("trainer",), "emb_dim", "emb_dim"),
)


def _table(data: dict, path: tuple[str, ...]) -> dict | None:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else None


def merge_model_aliases(data: Any) -> Any:
    """A raw config mapping with ``[model]`` filled from the deprecated aliases, and each alias set
    to the value ``[model]`` resolves to (so old readers and frozen configs stay consistent).

    Raises ValueError (one line, naming both fields and values) when an alias disagrees with
    ``[model]`` or, without ``[model]``, with another alias. Returns ``data`` unchanged when it
    is not a mapping (pydantic reports that)."""
    if not isinstance(data, dict):
        return data
    given_model = data.get("model", {})
    if not isinstance(given_model, dict):
        return data                      # pydantic names model and the bad value
    model = dict(given_model)
    source = {k: f"model.{k}" for k in model}
    for path, key, target in ALIASES:
        table = _table(data, path)
        if table is None or key not in table:
            continue
        value, field = table[key], ".".join((*path, key))
        if target not in model:
            model[target], source[target] = value, field
        elif model[target] != value:
            raise ValueError(f"{field}={value!r} disagrees with {source[target]}={model[target]!r}; "
                             f"set it once, in [model] ({field} is a deprecated alias of model.{target})")
    out = {**data, "model": model}
    try:
        resolved = ModelConfig.model_validate(model)   # defaults for what nobody set
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first.get("loc") else ""
        if source.get(key, f"model.{key}") != f"model.{key}":   # the bad value came from an alias: name it
            raise ValueError(f"{source[key]}={model[key]!r}: {first['msg']}") from None
        return out                        # AppConfig's own validation names model.<key> and the value
    for path, key, target in ALIASES:
        out = _with(out, path, key, getattr(resolved, target))
    return out


def _with(data: dict, path: tuple[str, ...], key: str, value: Any) -> dict:
    """A copy of ``data`` with ``data[path...][key] = value`` (each table on the way copied; a
    path through something that is not a table is left for pydantic to report)."""
    table = data.get(path[0], {})
    if not isinstance(table, dict):
        return data
    inner = _with(table, path[1:], key, value) if len(path) > 1 else {**table, key: value}
    return {**data, path[0]: inner}
