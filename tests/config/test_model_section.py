"""``[model]``: one place for the Re-ID model every daemon serves, with the old keys as aliases.

Guards against: ingest embedding with one architecture while the trainer trains another (every
checkpoint it publishes would then be refused by the extractors), a config written before
``[model]`` existed silently falling back to defaults, and a disagreement between the old keys and
``[model]`` resolved by whichever one a daemon happens to read.
"""

from __future__ import annotations

import typing

import pytest

from tastr_stream.config import ModelConfig, config_from_dict, load_config
from tastr_stream.config.ingest import EmbedConfig
from tastr_stream.config.model import DEFAULT_BACKBONE, Backbone
from tastr_stream.config.toml_writer import dumps, write_toml
from tastr_stream.errors import ConfigError

from .test_loader import GOOD, write

NETWORK = {"cameras": [{"id": "cam1"}, {"id": "cam2"}], "paths": [{"a": "cam1", "b": "cam2", "length_m": 50.0}]}


def load(**sections) -> object:
    return config_from_dict({"network": NETWORK, **sections}, "net.toml")


def error(**sections) -> str:
    with pytest.raises(ConfigError) as exc:
        load(**sections)
    msg = str(exc.value)
    assert msg.startswith("net.toml: ") and "\n" not in msg, msg
    return msg


def test_defaults_are_the_shipped_model_and_every_alias_agrees():
    cfg = load()
    assert cfg.model == ModelConfig() and cfg.model.backbone == DEFAULT_BACKBONE == "mobilenetv2+partcolour"
    assert cfg.model.emb_dim == 512 and cfg.model.weights_path == ""
    assert (cfg.ingest.embed.backbone, cfg.ingest.embed.emb_dim, cfg.ingest.embed.weights_path) == \
        (cfg.model.backbone, cfg.model.emb_dim, cfg.model.weights_path)
    assert (cfg.trainer.backbone, cfg.trainer.emb_dim) == (cfg.model.backbone, cfg.model.emb_dim)


def test_model_section_reaches_every_daemon():
    cfg = load(model={"backbone": "tiny", "emb_dim": 16, "weights_path": "w/v3.ckpt"})
    assert cfg.model == ModelConfig(backbone="tiny", emb_dim=16, weights_path="w/v3.ckpt")
    assert (cfg.ingest.embed.backbone, cfg.ingest.embed.emb_dim, cfg.ingest.embed.weights_path) == \
        ("tiny", 16, "w/v3.ckpt")
    assert (cfg.trainer.backbone, cfg.trainer.emb_dim) == ("tiny", 16)


def test_old_keys_alone_fill_the_model_section():
    cfg = load(ingest={"embed": {"backbone": "tiny", "emb_dim": 16, "weights_path": "a.ckpt", "batch_size": 4}},
               trainer={"backbone": "tiny", "emb_dim": 16, "p": 4})
    assert cfg.model == ModelConfig(backbone="tiny", emb_dim=16, weights_path="a.ckpt")
    assert cfg.ingest.embed.batch_size == 4 and cfg.trainer.p == 4          # their other fields stay theirs
    only_trainer = load(trainer={"emb_dim": 64})
    assert only_trainer.model.emb_dim == 64 and only_trainer.ingest.embed.emb_dim == 64
    assert only_trainer.model.backbone == DEFAULT_BACKBONE


def test_old_keys_equal_to_the_model_section_are_accepted():
    cfg = load(model={"backbone": "tiny", "emb_dim": 16}, ingest={"embed": {"backbone": "tiny", "emb_dim": 16}},
               trainer={"emb_dim": 16})
    assert cfg.model.backbone == "tiny" and cfg.model.emb_dim == 16


@pytest.mark.parametrize("sections, fields", [
    ({"model": {"emb_dim": 16}, "trainer": {"emb_dim": 32}}, ("trainer.emb_dim=32", "model.emb_dim=16")),
    ({"model": {"backbone": "tiny"}, "ingest": {"embed": {"backbone": "resnet50"}}},
     ("ingest.embed.backbone='resnet50'", "model.backbone='tiny'")),
    ({"model": {"weights_path": "a.ckpt"}, "ingest": {"embed": {"weights_path": "b.ckpt"}}},
     ("ingest.embed.weights_path='b.ckpt'", "model.weights_path='a.ckpt'")),
    # Without [model] the first alias fills it, and the second must agree with the first.
    ({"ingest": {"embed": {"backbone": "tiny"}}, "trainer": {"backbone": "tiny+partcolour"}},
     ("trainer.backbone='tiny+partcolour'", "ingest.embed.backbone='tiny'")),
])
def test_a_disagreeing_alias_is_one_line_naming_both_fields(sections, fields):
    msg = error(**sections)
    assert all(f in msg for f in fields), msg
    assert "deprecated alias" in msg


def test_bad_values_name_the_field_they_were_written_in():
    assert "model.emb_dim" in error(model={"emb_dim": 3}) and "3" in error(model={"emb_dim": 3})
    msg = error(ingest={"embed": {"emb_dim": 3}})
    assert "ingest.embed.emb_dim=3" in msg
    assert "model.backbone" in error(model={"backbone": "vgg"}) and "vgg" in error(model={"backbone": "vgg"})
    assert "model.size" in error(model={"size": 3})                          # unknown keys are errors too


def test_a_loaded_config_round_trips_through_the_toml_writer(tmp_path):
    cfg = load(model={"backbone": "tiny", "emb_dim": 16})
    again = load_config(write_toml(tmp_path / "again.toml", cfg.model_dump(mode="json")))
    assert again == cfg
    # An unset optional field (None) is left out: TOML has no null.
    assert "None" not in dumps({"ingest": {"embed": EmbedConfig().model_dump(mode="json")}})
    assert "backbone" not in dumps({"ingest": {"embed": EmbedConfig().model_dump(mode="json")}})


def test_shipped_configs_use_the_model_section(tmp_path):
    from pathlib import Path

    for name in ("synthetic.toml", "campus4k.toml"):
        path = Path(__file__).resolve().parents[2] / "configs" / name
        text = path.read_text()
        assert "\n[model]\n" in text, name
        cfg = load_config(path)
        assert cfg.model.backbone == DEFAULT_BACKBONE and cfg.model.emb_dim == 512
    file_cfg = load_config(write(tmp_path, GOOD + '\n[model]\nbackbone = "tiny"\nemb_dim = 16\n'))
    assert file_cfg.model.backbone == "tiny"


def test_model_section_offers_exactly_the_built_architectures():
    from tastr_stream.models import BACKBONES, DEFAULT_BACKBONE as BUILT_DEFAULT

    assert set(typing.get_args(Backbone)) == set(BACKBONES)
    assert DEFAULT_BACKBONE == BUILT_DEFAULT
