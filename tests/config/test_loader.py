"""Config mistakes must stop a daemon at start-up with one line naming file, field and value.

Guards against: a typo'd key silently ignored (the daemon then runs on a default the user
never chose), and a missing camera pair discovered hours later as a KeyError in the associator.
"""

from __future__ import annotations

import textwrap

import pytest

from tastr_stream.config import load_config
from tastr_stream.errors import ConfigError

GOOD = """
[network]
name = "three"
walking_speed_mps = 1.25
[[network.cameras]]
id = "cam1"
[[network.cameras]]
id = "cam2"
[[network.cameras]]
id = "cam3"
[[network.paths]]
a = "cam1"
b = "cam2"
length_m = 100.0
[[network.paths]]
a = "cam2"
b = "cam3"
transfer_s = 40.0
[[network.paths]]
a = "cam1"
b = "cam3"
length_m = 150.0
"""


def write(tmp_path, text: str):
    p = tmp_path / "cfg.toml"
    p.write_text(textwrap.dedent(text))
    return p


def error_of(tmp_path, text: str) -> str:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert str(p) in msg, msg
    assert "\n" not in msg, "the error must be one line"
    return msg


def test_good_config_loads_with_transfer_times(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.network.camera_ids == ["cam1", "cam2", "cam3"]
    assert cfg.network.mean_transfer_s("cam1", "cam2") == pytest.approx(80.0)
    assert cfg.network.mean_transfer_s("cam3", "cam2") == pytest.approx(40.0)
    assert cfg.associator.association.str_prior.lambda_ == pytest.approx(0.7)
    assert len(cfg.network.transfer_matrix_s()) == 6


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml(tmp_path):
    msg = error_of(tmp_path, GOOD + "\n[associator\n")
    assert "invalid TOML" in msg


def test_unknown_key_names_the_key_and_value(tmp_path):
    msg = error_of(tmp_path, GOOD + "\n[associator.window]\nwindow_sec = 30\n")
    assert "unknown key associator.window.window_sec" in msg and "30" in msg


def test_out_of_range_number_names_field_and_value(tmp_path):
    msg = error_of(tmp_path, GOOD + "\n[trainer]\nlr = -0.5\n")
    assert "trainer.lr" in msg and "-0.5" in msg


def test_wrong_type(tmp_path):
    msg = error_of(tmp_path, GOOD + "\n[ingest.tracklet]\nmax_crops = 'sixty'\n")
    assert "ingest.tracklet.max_crops" in msg and "sixty" in msg


def test_path_to_unknown_camera(tmp_path):
    msg = error_of(tmp_path, GOOD + '\n[[network.paths]]\na = "cam1"\nb = "cam9"\nlength_m = 5.0\n')
    assert "cam9" in msg and "unknown camera" in msg


def test_missing_camera_pair(tmp_path):
    text = GOOD.replace('[[network.paths]]\na = "cam1"\nb = "cam3"\nlength_m = 150.0\n', "")
    msg = error_of(tmp_path, text)
    assert "no path between cameras 'cam1' and 'cam3'" in msg


def test_path_needs_exactly_one_measure(tmp_path):
    text = GOOD.replace("transfer_s = 40.0", "transfer_s = 40.0\nlength_m = 50.0")
    msg = error_of(tmp_path, text)
    assert "exactly one of length_m or transfer_s" in msg


def test_missing_network_section(tmp_path):
    msg = error_of(tmp_path, "[trainer]\nlr = 0.001\n")
    assert "missing required field network" in msg


def test_bad_camera_id(tmp_path):
    msg = error_of(tmp_path, GOOD.replace('id = "cam3"', 'id = "cam 3!"').replace('"cam3"', '"cam 3!"'))
    assert "network.cameras[2].id" in msg and "cam 3!" in msg


def test_duplicate_camera(tmp_path):
    msg = error_of(tmp_path, GOOD + '\n[[network.cameras]]\nid = "cam2"\n')
    assert "duplicate camera id" in msg and "cam2" in msg


def test_bad_endpoint_scheme(tmp_path):
    msg = error_of(tmp_path, GOOD + '\n[endpoints]\ntracklets = "http://127.0.0.1:5701"\n')
    assert "endpoints.tracklets" in msg and "http://127.0.0.1:5701" in msg


@pytest.mark.parametrize("section, field", [("trainer", "niceness"), ("associator", "background_niceness")])
def test_background_niceness_must_be_a_nice_value(tmp_path, section, field):
    msg = error_of(tmp_path, GOOD + f"\n[{section}]\n{field} = 20\n")
    assert f"{section}.{field}" in msg and "20" in msg


def test_embedding_dims_must_agree(tmp_path):
    msg = error_of(tmp_path, GOOD + "\n[ingest.embed]\nemb_dim = 128\n[trainer]\nemb_dim = 256\n")
    assert "trainer.emb_dim=256" in msg and "ingest.embed.emb_dim=128" in msg


def test_not_utf8(tmp_path):
    p = tmp_path / "cfg.toml"
    p.write_bytes(b"\xff\xfe[network]\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)
