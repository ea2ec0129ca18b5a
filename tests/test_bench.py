import json

from talkface.cli import main


def test_bench_writes_every_stage_to_json(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--out", str(out), "--repeats", "1"]) == 0
    report = json.loads(out.read_text())
    assert set(report["stages_s"]) == {"load", "landmarks", "audio2lmk", "lmk2video", "encode"}
    assert all(v > 0 for v in report["stages_s"].values())
    assert report["inputs"]["frames"] == round(report["inputs"]["audio_seconds"] * 25)
    assert abs(report["total_s"] - sum(report["stages_s"].values())) < 1e-3
