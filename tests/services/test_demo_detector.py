"""Which pose model the demo and replay run: the int8 copy when setup made it, else the float export, else HOG."""

from __future__ import annotations

from services.demo import DEMO_POSE_MODEL, DEMO_POSE_MODEL_INT8, pick_detector


def test_auto_takes_the_int8_model_then_the_float_one_then_hog(tmp_path):
    assert pick_detector("auto", tmp_path)["backend"] == "hog"
    (tmp_path / DEMO_POSE_MODEL).parent.mkdir(parents=True)
    (tmp_path / DEMO_POSE_MODEL).write_bytes(b"float")
    assert pick_detector("auto", tmp_path)["model_path"] == str(tmp_path / DEMO_POSE_MODEL)
    (tmp_path / DEMO_POSE_MODEL_INT8).write_bytes(b"int8")
    auto = pick_detector("auto", tmp_path)
    assert auto == {"backend": "yolo-pose", "model_path": str(tmp_path / DEMO_POSE_MODEL_INT8),
                    "input_width": 640, "input_height": 384}
    assert pick_detector("yolo-pose", tmp_path)["model_path"] == str(tmp_path / DEMO_POSE_MODEL)   # asked for by name
    assert "model_path" not in pick_detector("oracle", tmp_path)
