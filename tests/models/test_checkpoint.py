"""Checkpoints: round trip, atomic replace, and every way a file can be bad raises ModelError.

Guards against: an extractor swapping in a half-written, truncated or bit-flipped weights
file (or one meant for another network) and serving garbage embeddings; a crash mid-write
leaving a broken file under the final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct

import numpy as np
import pytest
import torch

from tastr_stream.errors import ModelError
from tastr_stream.models import (build_reid_model, load_checkpoint, model_from_checkpoint,
                                 publish_checkpoint, save_checkpoint, sha256_file)
from tastr_stream.models.checkpoint import MAGIC


def _tiny(seed: int = 0, emb_dim: int = 32):
    return build_reid_model("tiny", emb_dim, seed=seed)


def _container(header: dict, payload: bytes) -> bytes:
    hb = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(hb)) + hb + payload


@pytest.fixture()
def ckpt(tmp_path):
    model = _tiny(seed=3)
    path = tmp_path / "ck" / "reid-v1.ckpt"
    digest = save_checkpoint(model, path, 1, {"config": {"lr": 3e-4}, "round": 1})
    return model, path, digest


def test_round_trip_keeps_weights_and_header(ckpt):
    model, path, digest = ckpt
    assert digest == sha256_file(path)
    state, header = load_checkpoint(path, digest)
    for k, v in model.state_dict().items():
        assert torch.equal(state[k], v), k
    assert header["version"] == 1 and header["backbone"] == "tiny" and header["emb_dim"] == 32
    assert header["config"] == {"lr": 3e-4} and header["round"] == 1 and header["created"].endswith("+00:00")
    back, _ = model_from_checkpoint(path, digest.upper())
    x = torch.randn(3, 3, 256, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_array_equal(back(x).numpy(), model(x).numpy())


def test_atomic_write_leaves_no_temp_and_old_file_survives_a_failed_write(ckpt, monkeypatch):
    _, path, digest = ckpt
    assert [p.name for p in path.parent.iterdir()] == [path.name]

    def boom(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        save_checkpoint(_tiny(seed=9), path, 2)
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert sha256_file(path) == digest


def test_overwrite_replaces_whole_file(ckpt):
    _, path, old = ckpt
    new = save_checkpoint(_tiny(seed=4), path, 2)
    assert new != old and load_checkpoint(path, new)[1]["version"] == 2


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        load_checkpoint(tmp_path / "nope.ckpt")


@pytest.mark.parametrize("keep", [0, 5, len(MAGIC) + 2, len(MAGIC) + 30, -1, -1000])
def test_truncated_file(ckpt, keep):
    _, path, _ = ckpt
    blob = path.read_bytes()
    path.write_bytes(blob[:keep])
    with pytest.raises(ModelError, match="truncated|not a tastr"):
        load_checkpoint(path)


def test_bit_flip_in_weights(ckpt):
    _, path, digest = ckpt
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="corrupt"):
        load_checkpoint(path)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        load_checkpoint(path, digest)


def test_bit_flip_in_header(ckpt):
    _, path, _ = ckpt
    blob = bytearray(path.read_bytes())
    blob[len(MAGIC) + 4] = ord("?")          # first byte of the JSON header
    path.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="corrupt header"):
        load_checkpoint(path)


def test_checksum_mismatch_on_intact_file(ckpt):
    _, path, _ = ckpt
    with pytest.raises(ModelError, match="sha256 mismatch"):
        load_checkpoint(path, hashlib.sha256(b"other").hexdigest())


def test_not_a_checkpoint(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save(_tiny().state_dict(), plain)
    with pytest.raises(ModelError, match="not a tastr"):
        load_checkpoint(plain)


def test_payload_that_is_not_a_state_dict_or_runs_code(tmp_path):
    for name, obj in (("list", [1, 2]), ("code", np.random.default_rng(0))):
        buf = io.BytesIO()
        torch.save(obj, buf)
        payload = buf.getvalue()
        path = tmp_path / f"{name}.ckpt"
        path.write_bytes(_container({"format": 1, "version": 1, "backbone": "tiny", "emb_dim": 32,
                                     "payload_bytes": len(payload),
                                     "payload_sha256": hashlib.sha256(payload).hexdigest()}, payload))
        with pytest.raises(ModelError, match="state dict|cannot load"):
            load_checkpoint(path)


def test_wrong_architecture(ckpt, tmp_path):
    _, path, _ = ckpt
    with pytest.raises(ModelError, match="wrong architecture: backbone"):
        load_checkpoint(path, backbone="resnet50")
    with pytest.raises(ModelError, match="wrong architecture: emb_dim"):
        model_from_checkpoint(path, emb_dim=64)
    liar = _tiny(emb_dim=32)
    liar.emb_dim = 64                          # header says 64, tensors are 32 wide
    bad = tmp_path / "liar.ckpt"
    save_checkpoint(liar, bad, 5)
    with pytest.raises(ModelError, match="shape of"):
        model_from_checkpoint(bad)
    other = _tiny()
    other.backbone_name = "mobilenetv2"        # header names a network the tensors do not fit
    bad2 = tmp_path / "other.ckpt"
    save_checkpoint(other, bad2, 6)
    with pytest.raises(ModelError, match="does not fit the architecture"):
        model_from_checkpoint(bad2)


def test_bad_arguments(tmp_path):
    with pytest.raises(ModelError, match="version"):
        save_checkpoint(_tiny(), tmp_path / "a.ckpt", -1)
    with pytest.raises(ModelError, match="reserved"):
        save_checkpoint(_tiny(), tmp_path / "a.ckpt", 1, {"version": 3})
    with pytest.raises(ModelError, match="JSON"):
        save_checkpoint(_tiny(), tmp_path / "a.ckpt", 1, {"config": object()})
    with pytest.raises(ModelError, match="backbone_name"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "a.ckpt", 1)
    assert not list(tmp_path.iterdir())


def test_publish_returns_a_verifiable_announcement(tmp_path):
    ann = publish_checkpoint(_tiny(), tmp_path, 7, {"config": {}})
    assert ann.version == 7 and ann.backbone == "tiny" and ann.emb_dim == 32
    assert ann.path.endswith("reid-v000007.ckpt")
    assert load_checkpoint(ann.path, ann.sha256)[1]["version"] == 7
