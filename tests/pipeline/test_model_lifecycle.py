"""One model lifecycle: ingest's hot-swap and the associator's model switch refuse the same bad
checkpoints for the same reasons, through the same code (``models.lifecycle``).

Guards against: the two daemons disagreeing about a checkpoint (ingest embedding with a model the
associator refused, or the reverse: embeddings of two models compared in one window), the
associator swapping to a file whose header names another version than announced (only ingest
checked it), a refusal logged and counted at every repeat of the announcement, and a file that
was merely not there yet (a fetch that failed) refused for good.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from tastr_stream.models import build_reid_model, publish_checkpoint
from tastr_stream.models.checkpoint import EMB_DIM as EMB_DIM_REASON
from tastr_stream.models.checkpoint import (ARCHITECTURE, CORRUPT, MISSING, SHA256, VERSION, CheckpointRejected,
                                            save_checkpoint)
from tastr_stream.models.lifecycle import ModelLifecycle, Rejections
from tastr_stream.pipeline.associator import AssociatorCore
from tastr_stream.pipeline.model_switch import ModelSwitch
from tastr_stream.pipeline.reembed import CropEmbedder
from tastr_stream.store import Store
from tastr_stream.tracklet.extractor import BackgroundExtractor, Extractor
from tastr_stream.tracklet.hotswap import HANDED_OVER, REJECTED, WeightSwapper
from tastr_stream.wire.checkpoints import CheckpointFetchError
from tastr_stream.wire.records import WeightsAnnouncement

from ..associate.world import make_world
from .test_associator_core import app_config, as_tracklet
from .test_model_switch import GatedEmbedder

EMB_DIM = 16            # the pipeline tests' network (app_config): [model] emb_dim 16
BACKBONE = "tiny"
TIMEOUT_S = 30.0


def _announce(path, version: int, sha256: str, backbone: str = BACKBONE, emb_dim: int = EMB_DIM):
    return WeightsAnnouncement(version=version, path=str(path), sha256=sha256, backbone=backbone, emb_dim=emb_dim)


def bad_checkpoint(kind: str, tmp_path: Path) -> WeightsAnnouncement:
    """A real file on disk (or its absence) and the announcement of version 5 that names it."""
    good = publish_checkpoint(build_reid_model(BACKBONE, EMB_DIM, seed=5), tmp_path / "good", 5)
    if kind == "version":                       # the file is v1; the trainer says v5
        v1 = publish_checkpoint(build_reid_model(BACKBONE, EMB_DIM, seed=1), tmp_path / "v1", 1)
        return _announce(v1.path, 5, v1.sha256)
    if kind == "sha256":                        # another file than the one announced
        other = publish_checkpoint(build_reid_model(BACKBONE, EMB_DIM, seed=9), tmp_path / "other", 5)
        return _announce(other.path, 5, good.sha256)
    if kind == "emb_dim":                       # announced honestly: refused before reading a byte
        wide = publish_checkpoint(build_reid_model(BACKBONE, 32, seed=5), tmp_path / "wide", 5)
        return _announce(wide.path, 5, wide.sha256, emb_dim=32)
    if kind == "emb_dim-in-header":             # the announcement claims 16; the header says 32
        wide = publish_checkpoint(build_reid_model(BACKBONE, 32, seed=5), tmp_path / "wide", 5)
        return _announce(wide.path, 5, wide.sha256)
    if kind == "architecture":                  # another head on the same trunk
        other = publish_checkpoint(build_reid_model("tiny+partcolour", EMB_DIM, seed=5), tmp_path / "pc", 5)
        return _announce(other.path, 5, other.sha256, backbone="")        # an old trainer that did not say
    if kind == "architecture-constants":        # same name, but the head was built with other constants
        model = build_reid_model("tiny+partcolour", EMB_DIM, seed=5)
        spec = model.spec()
        model.spec = lambda: {**spec, "stripes": -1}
        path = tmp_path / "consts" / "reid-v000005.ckpt"
        return _announce(path, 5, save_checkpoint(model, path, 5), backbone="tiny+partcolour")
    if kind == "missing":
        return _announce(tmp_path / "gone" / "reid-v000005.ckpt", 5, good.sha256)
    if kind == "corrupt":                       # torn weights, announced with the torn file's sha256
        data = Path(good.path).read_bytes()
        torn = tmp_path / "torn.ckpt"
        torn.write_bytes(data[:-100])
        return _announce(torn, 5, hashlib.sha256(torn.read_bytes()).hexdigest())
    raise AssertionError(kind)


KINDS = {"version": VERSION, "sha256": SHA256, "emb_dim": EMB_DIM_REASON, "emb_dim-in-header": EMB_DIM_REASON,
         "architecture": ARCHITECTURE, "architecture-constants": ARCHITECTURE, "missing": MISSING,
         "corrupt": CORRUPT}


def lifecycle_for(backbone: str = BACKBONE, resolve=None, **kw) -> ModelLifecycle:
    """What each daemon builds from [model] (services/ingest.py, services/associator.py)."""
    return ModelLifecycle(backbone, EMB_DIM, resolve=resolve, **kw)


def through_ingest(ann: WeightsAnnouncement, lifecycle: ModelLifecycle) -> tuple[str, int]:
    """The swapper's outcome and the version the extractor serves afterwards."""
    ex = Extractor(lambda: build_reid_model(BACKBONE, EMB_DIM, seed=0), device="cpu", batch_size=4)
    with BackgroundExtractor(ex) as bg, WeightSwapper(bg, lifecycle=lifecycle) as swapper:
        outcome = swapper.announce(ann).result(TIMEOUT_S)
        if outcome == HANDED_OVER:
            assert bg.wait_for_version(ann.version, TIMEOUT_S)
        return outcome, bg.model_version


def through_associator(ann: WeightsAnnouncement, lifecycle: ModelLifecycle, tmp_path: Path) -> bool:
    """True when the associator's window moved to ``ann``; the daemon's loader (services/associator.py)."""
    world = make_world(seed=3, n_ids=4, emb_dim=EMB_DIM)
    with Store.open(tmp_path / "store") as store:
        core = AssociatorCore(app_config(tmp_path), store, embed_crops=GatedEmbedder(0))
        for m in world:
            core.receive(as_tracklet(m))
        switch = ModelSwitch(core, lambda a: CropEmbedder.from_model(lifecycle.load(a).model, a.version,
                                                                     device="cpu"), lifecycle.rejections)
        try:
            if switch.offer(ann):
                switch.wait(TIMEOUT_S)
            return core.model_version == ann.version
        finally:
            switch.close()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_both_daemons_refuse_a_bad_checkpoint_for_the_same_reason(kind, tmp_path, caplog):
    ann = bad_checkpoint(kind, tmp_path)
    backbone = "tiny+partcolour" if kind == "architecture-constants" else BACKBONE
    caplog.set_level(logging.WARNING, logger="tastr_stream.models.lifecycle")
    counted = {"ingest": [], "associator": []}
    ingest = lifecycle_for(backbone, rejections=Rejections("ingest", counted["ingest"].append))
    assoc = lifecycle_for(backbone, rejections=Rejections("associator", counted["associator"].append))

    assert through_ingest(ann, ingest) == (REJECTED, 0)
    assert not through_associator(ann, assoc, tmp_path)
    want = KINDS[kind]
    assert counted == {"ingest": [want], "associator": [want]}
    lines = [r for r in caplog.records if r.getMessage().startswith("announced checkpoint rejected")]
    assert [(r.kv["daemon"], r.kv["reason"]) for r in lines] == [("ingest", want), ("associator", want)]
    assert lines[0].kv["error"] == lines[1].kv["error"] and lines[0].kv["version"] == 5
    with pytest.raises(CheckpointRejected) as exc:
        lifecycle_for(backbone).load(ann)
    assert exc.value.reason == want and "\n" not in str(exc.value)


def test_a_good_checkpoint_lands_in_both(tmp_path):
    ann = publish_checkpoint(build_reid_model(BACKBONE, EMB_DIM, seed=5), tmp_path / "good", 5)
    assert through_ingest(ann, lifecycle_for()) == (HANDED_OVER, 5)
    assert through_associator(ann, lifecycle_for(), tmp_path)


def test_repeats_are_refused_from_memory_once_logged_and_counted(tmp_path, caplog):
    """The trainer repeats its newest announcement every few seconds: a file refused for good is not
    read again; one that was missing is tried again (quietly) and lands once it is there."""
    reads, counted = [], []
    from tastr_stream.models.checkpoint import model_from_checkpoint

    def read(path, sha):
        reads.append(path)
        return model_from_checkpoint(path, sha)

    lifecycle = lifecycle_for(read=read, rejections=Rejections("ingest", counted.append))
    torn = bad_checkpoint("corrupt", tmp_path)
    missing = bad_checkpoint("missing", tmp_path)
    caplog.set_level(logging.WARNING, logger="tastr_stream.models.lifecycle")
    ex = Extractor(lambda: build_reid_model(BACKBONE, EMB_DIM, seed=0), device="cpu", batch_size=4)
    with BackgroundExtractor(ex) as bg, WeightSwapper(bg, lifecycle=lifecycle) as swapper:
        assert [swapper.announce(torn).result(TIMEOUT_S) for _ in range(3)] == [REJECTED] * 3
        assert len(reads) == 1, "a corrupt file is read once, not at every repeat"
        assert [swapper.announce(missing).result(TIMEOUT_S) for _ in range(2)] == [REJECTED] * 2
        assert len(reads) == 3, "a missing file is looked for again at every repeat"
        Path(missing.path).parent.mkdir()                       # the announced file arrives
        Path(missing.path).write_bytes((tmp_path / "good" / "reid-v000005.ckpt").read_bytes())
        assert swapper.announce(missing).result(TIMEOUT_S) == HANDED_OVER
        assert bg.wait_for_version(5, TIMEOUT_S)
    assert counted == [CORRUPT, MISSING]
    assert lifecycle.rejections.counts() == {CORRUPT: 1, MISSING: 1}
    assert len([r for r in caplog.records if r.getMessage().startswith("announced checkpoint rejected")]) == 2


def test_a_failed_fetch_is_missing_and_a_fetched_mismatch_is_sha256(tmp_path):
    """Edge boxes fetch what they lack (wire.checkpoints.CheckpointResolver): its failures map to
    the same reasons as a local file's."""
    ann = bad_checkpoint("missing", tmp_path)

    def unreachable(a):
        raise CheckpointFetchError("no reply within 0.2 s (server down or unreachable)")

    def mismatched(a):
        raise CheckpointFetchError("sha256 mismatch: got 00.., announced ..", "sha256")

    for resolve, want in ((unreachable, MISSING), (mismatched, SHA256)):
        with pytest.raises(CheckpointRejected) as exc:
            lifecycle_for(resolve=resolve).load(ann)
        assert exc.value.reason == want and "v5 unavailable" in str(exc.value)
    # A different file at the announced path, and the trainer's copy out of reach: not "missing".
    other = bad_checkpoint("sha256", tmp_path)
    with pytest.raises(CheckpointRejected) as exc:
        lifecycle_for(resolve=unreachable).load(other)
    assert exc.value.reason == SHA256
