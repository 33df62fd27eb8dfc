"""The demo report's per-version rank-1: real world crops, real checkpoints, ground truth."""

from __future__ import annotations

import torch

from tastr_stream.eval.model_versions import checkpoint_paths, score_versions
from tastr_stream.models.checkpoint import initial_model, save_checkpoint


def test_scores_v0_and_each_saved_version(tmp_path, small_world):
    model, _ = initial_model("tiny", 16)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.5)                      # another model: its scores may differ from v0's
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    save_checkpoint(model, ckpt / "reid-v000002.ckpt", 2)
    (ckpt / "notes.txt").write_text("not a checkpoint")
    assert list(checkpoint_paths(ckpt)) == [2]
    scores = score_versions(small_world, ckpt, [0, 1, 2], "tiny", 16)
    assert [s.version for s in scores] == [0, 2]          # v1 has no file: left out, not invented
    for s in scores:
        assert 0.0 <= s.rank1 <= 1.0 and 0.0 <= s.mAP <= 1.0 and s.queries >= 5


def test_a_world_where_nobody_crossed_two_cameras_scores_nothing(tmp_path, small_world, monkeypatch):
    import tastr_stream.train.world_crops as wc

    real = wc.load_world_tracklets

    def one_camera(world_dir, settings):
        world, tracklets = real(world_dir, settings)
        return world, [t for t in tracklets if t.camera_id == tracklets[0].camera_id]

    monkeypatch.setattr(wc, "load_world_tracklets", one_camera)
    assert score_versions(small_world, tmp_path, [0], "tiny", 16) == []
