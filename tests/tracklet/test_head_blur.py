"""Head blur in crops: the head found from pose keypoints (else the top of the box) is blurred,
the body is left exactly as it was, and image search blurs an upload the same way.

Guards against issue 13's privacy item: stored crops kept faces at full resolution. And against
the inconsistency DESIGN.md warns of: a blurred gallery searched with an unblurred query.
"""

from __future__ import annotations

import cv2
import numpy as np

from tastr_stream.config.ingest import TrackletConfig
from tastr_stream.serve.lookup import LookupService
from tastr_stream.serve.upload import blur_upload_head
from tastr_stream.tracklet.builder import TrackletBuilder
from tastr_stream.tracklet.crops import HEAD_FALLBACK_SHARE, cut_crop
from tastr_stream.wire import Detection, TrackObservation

BOX = np.array([100, 40, 200, 340], np.float32)     # 100 x 300 px figure -> crop scale 1.28 x 0.853
OUT_HW = (256, 128)


def textured_frame(seed: int = 0) -> np.ndarray:
    """Fine random texture everywhere: every region of a crop has high-frequency energy."""
    return np.random.default_rng(seed).integers(0, 256, (400, 320, 3), dtype=np.uint8)


def keypoints(nose_xy=(150.0, 70.0), score=0.9) -> np.ndarray:
    kp = np.zeros((17, 3), np.float32)
    nx, ny = nose_xy
    kp[:5] = [(nx, ny, score), (nx - 6, ny - 5, score), (nx + 6, ny - 5, score),
              (nx - 14, ny - 2, score), (nx + 14, ny - 2, score)]
    kp[5:, 2] = 0.9                                   # the body's keypoints do not matter here
    kp[5:, 0], kp[5:, 1] = nx, ny + 60
    return kp


def hf_energy(img: np.ndarray) -> float:
    """Variance of the Laplacian: high-frequency energy."""
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def to_crop(xy, box=BOX) -> tuple[int, int]:
    return (int((xy[0] - box[0]) * OUT_HW[1] / (box[2] - box[0])), int((xy[1] - box[1]) * OUT_HW[0] / (box[3] - box[1])))


def changed_rows_cols(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = np.any(a != b, axis=2)
    return np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))


def test_head_from_keypoints_is_blurred_and_the_body_untouched():
    frame = textured_frame()
    plain = cut_crop(frame, BOX, OUT_HW)
    blurred = cut_crop(frame, BOX, OUT_HW, blur_head=True, keypoints=keypoints())
    nx, ny = to_crop((150, 70))
    face = (slice(ny - 12, ny + 12), slice(nx - 12, nx + 12))
    assert hf_energy(blurred[face]) < 0.02 * hf_energy(plain[face]), "the face keeps its detail"
    rows, _ = changed_rows_cols(plain, blurred)
    assert rows.min() <= ny - 20 and rows.max() >= ny + 12, "the whole head, crown to chin"
    assert rows.max() < 0.35 * OUT_HW[0], "blur reaches into the body"
    body = slice(int(0.35 * OUT_HW[0]), None)
    assert np.array_equal(plain[body], blurred[body]), "the body must be exactly as cut"


def test_a_bent_head_is_found_where_the_keypoints_are_not_at_the_top():
    frame = textured_frame(1)
    plain = cut_crop(frame, BOX, OUT_HW)
    low = keypoints(nose_xy=(170.0, 190.0))             # head at mid-height (bending, sitting)
    blurred = cut_crop(frame, BOX, OUT_HW, blur_head=True, keypoints=low)
    nx, ny = to_crop((170, 190))
    face = (slice(ny - 12, ny + 12), slice(nx - 12, nx + 12))
    assert hf_energy(blurred[face]) < 0.02 * hf_energy(plain[face])
    top = slice(0, int(HEAD_FALLBACK_SHARE * OUT_HW[0]))
    assert np.array_equal(plain[top], blurred[top]), "the top of the box is not the head here"


def test_without_a_confident_head_keypoint_the_top_of_the_box_is_blurred():
    frame = textured_frame(2)
    plain = cut_crop(frame, BOX, OUT_HW)
    top_rows = int(round(HEAD_FALLBACK_SHARE * OUT_HW[0]))
    for kp in (None, keypoints(score=0.1), np.full((17, 3), np.nan, np.float32)):
        blurred = cut_crop(frame, BOX, OUT_HW, blur_head=True, keypoints=kp)
        assert hf_energy(blurred[:top_rows]) < 0.02 * hf_energy(plain[:top_rows])
        assert np.array_equal(plain[top_rows:], blurred[top_rows:])


def _observation(f: int) -> TrackObservation:
    return TrackObservation("cam1", 3, f, f / 30.0, Detection(BOX, keypoints(), 0.9))


def _crops(cfg: TrackletConfig) -> list[np.ndarray]:
    b = TrackletBuilder("cam1", cfg, session="s")
    frame = textured_frame(3)
    for f in range(9):
        b.add(frame, [_observation(f)], [])
    (t,) = b.flush()
    return [cv2.imdecode(np.frombuffer(c, np.uint8), cv2.IMREAD_COLOR) for c in t.crops_jpeg]


def test_the_builder_blurs_by_default_and_changes_nothing_when_off():
    assert TrackletConfig().blur_heads is True
    frame = textured_frame(3)
    off = _crops(TrackletConfig(min_frames=3, blur_heads=False, jpeg_quality=100))
    plain = cut_crop(frame, BOX, OUT_HW)
    on = _crops(TrackletConfig(min_frames=3, jpeg_quality=100))
    want = cv2.imdecode(cv2.imencode(".jpg", plain, [cv2.IMWRITE_JPEG_QUALITY, 100])[1], cv2.IMREAD_COLOR)
    assert all(np.array_equal(c, want) for c in off), "with the option off the crop is exactly as before"
    nx, ny = to_crop((150, 70))
    face = (slice(ny - 12, ny + 12), slice(nx - 12, nx + 12))
    for c in on:
        assert hf_energy(c[face]) < 0.05 * hf_energy(want[face])


def test_image_search_blurs_the_upload_like_a_crop():
    person = textured_frame(4)[:256, :128]
    png = cv2.imencode(".png", person)[1].tobytes()
    blurred = cv2.imdecode(np.frombuffer(blur_upload_head(png), np.uint8), cv2.IMREAD_COLOR)
    top = int(round(HEAD_FALLBACK_SHARE * 256))
    assert blurred.shape == person.shape and np.array_equal(blurred[top:], person[top:])
    assert hf_energy(blurred[:top]) < 0.02 * hf_energy(person[:top])
    assert blur_upload_head(b"\x89PNG\r\n\x1a\n not really") is None

    seen = []

    class _Store:
        def embeddings(self, version):
            return type("G", (), {"ids": []})()

    def embed(data: bytes):
        seen.append(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
        return np.zeros(8, np.float32), 0

    for blur in (False, True):
        reply = LookupService(_Store(), embed_image=embed, blur_heads=blur).handle({"op": "image", "jpeg": png})
        assert reply["ok"], reply
    assert np.array_equal(seen[0], person), "without blur_heads the upload is embedded as it came"
    assert np.array_equal(seen[1], blurred), "with blur_heads the query is blurred as the gallery crops are"
