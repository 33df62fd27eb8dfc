"""Generated configs must read back to the same data and validate."""

import tomllib

from tastr_stream.config import config_from_dict
from tastr_stream.config.toml_writer import dumps


def test_round_trip_of_a_full_config():
    data = {
        "network": {"name": "n", "walking_speed_mps": 1.3,
                    "cameras": [{"id": "cam1", "position_m": [0.0, 1.5]}, {"id": "cam2", "source": "a \"b\".mp4"}],
                    "paths": [{"a": "cam1", "b": "cam2", "length_m": 50.0}]},
        "ingest": {"detect": {"backend": "hog"}, "embed": {"emb_dim": 64}},
        "trainer": {"emb_dim": 64},
        "associator": {"association": {"str_prior": {"lambda": 0.5, "enabled": False}}},
    }
    text = dumps(data)
    assert tomllib.loads(text) == data
    cfg = config_from_dict(tomllib.loads(text))
    assert cfg.associator.association.str_prior.lambda_ == 0.5
