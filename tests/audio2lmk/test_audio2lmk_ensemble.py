"""audio2lmk ensembles: K nets' decoded motion and poses averaged, saved as one checkpoint, loaded like one net."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audio2lmk.ensemble import Audio2LmkEnsemble, save_ensemble
from audio2lmk.learned import LearnedAudio2Lmk, load_checkpoint
from talkface.audio import SAMPLE_RATE
from talkface.checkpoint import save_checkpoint, save_model
from talkface.errors import CheckpointError
from talkface.speech import Speech
from test_audio2lmk_learned import face, speech_like, tiny_net

pytestmark = pytest.mark.usefixtures("one_torch_thread")

UNGATED = {"calibration": {"voice_gate": False}}  # the synthetic buzz is not a voice to the detector


def test_ensemble_motion_and_pose_are_the_members_mean():
    # members with different motion bases and weights: the mean is taken after decoding
    nets = [tiny_net("lstm", seed=s, head_pose=True) for s in (1, 2, 3)]
    audio = speech_like(7.0)  # 175 frames: two crossfaded windows
    singles = [LearnedAudio2Lmk(net, UNGATED).predict(audio) for net in nets]
    motion, pose = LearnedAudio2Lmk(Audio2LmkEnsemble(nets), UNGATED).predict(audio)
    assert motion.shape == singles[0][0].shape and pose.shape == singles[0][1].shape
    assert np.allclose(motion, np.mean([m for m, _ in singles], axis=0), atol=1e-5)
    assert np.allclose(pose, np.mean([p for _, p in singles], axis=0), atol=1e-5)
    spread = np.abs(singles[0][0] - singles[1][0]).max()
    assert spread > 10 * np.abs(motion - np.mean([m for m, _ in singles], axis=0)).max()  # the members do differ


def test_ensemble_of_one_net_is_that_net_and_averages_open_corrections():
    net = tiny_net("tcn", seed=4)
    source = face(100.0, 0.1, (160.0, 150.0), 2)
    audio = speech_like(2.0, seed=3)
    alone = LearnedAudio2Lmk(net)(Speech.of(audio, SAMPLE_RATE), source, seed=5)
    speech = Speech.of(audio, SAMPLE_RATE)
    assert np.allclose(LearnedAudio2Lmk(Audio2LmkEnsemble([net]))(speech, source, seed=5), alone, atol=1e-5)

    other = tiny_net("tcn", seed=5)
    other.rest_opening.fill_(0.25)
    other.open_direction.mul_(3.0)
    mean = Audio2LmkEnsemble([net, other]).open_correction()
    assert mean.rest_opening == pytest.approx(0.2)
    assert np.allclose(mean.direction, 2.0 * net.open_correction().direction)


def test_members_must_share_their_input_and_outputs():
    with pytest.raises(CheckpointError, match="differ in head_pose"):
        Audio2LmkEnsemble([tiny_net(seed=1), tiny_net(seed=2, head_pose=True)])
    with pytest.raises(CheckpointError, match="no member"):
        Audio2LmkEnsemble([])


def member_checkpoint(tmp_path, name: str, seed: int, val_ids: list[str], split_file: str = "splits/s1_train.txt",
                      **sidecar):
    return save_model(tmp_path / name, tiny_net("lstm", seed=seed, head_pose=True),
                      data={"split_file": split_file, "val_ids": val_ids, "n_val": len(val_ids)},
                      val={"val_mouth_lmd": 0.02 + seed / 100}, **sidecar)


def test_an_ensemble_names_the_speech_encoder_its_members_read(tmp_path):
    encoder = {"package": "moonshine-cpp", "version": "0.1.4", "file": "models/base-en/encoder_model.ort",
               "sha256": "9d1a19e0", "dim": 416}
    paths = [member_checkpoint(tmp_path, name, seed, [f"c{seed}"], speech_encoder=encoder)
             for name, seed in (("a", 1), ("b", 2))]
    meta = json.loads(save_ensemble(paths, tmp_path / "ens.safetensors").with_suffix(".json").read_text())
    assert meta["speech_encoder"] == encoder and all(m["speech_encoder"] == encoder for m in meta["ensemble"])

    other = member_checkpoint(tmp_path, "c", 3, ["c3"], speech_encoder={**encoder, "sha256": "00000000"})
    with pytest.raises(CheckpointError, match="different speech encoders"):
        save_ensemble([paths[0], other], tmp_path / "mixed.safetensors")
    plain = json.loads(save_ensemble([member_checkpoint(tmp_path, "d", 4, ["c4"])], tmp_path / "plain.safetensors")
                       .with_suffix(".json").read_text())
    assert "speech_encoder" not in plain  # log-mel members: nothing to check at load


def test_saved_ensemble_loads_and_lists_its_members(tmp_path):
    paths = [member_checkpoint(tmp_path, "a", 1, ["c1", "c2"]), member_checkpoint(tmp_path, "b", 2, ["c2", "c3"])]
    target = save_ensemble(paths, tmp_path / "ens.safetensors")
    meta = json.loads(target.with_suffix(".json").read_text())
    assert meta["kind"] == "audio2lmk" and meta["config"]["kind"] == "ensemble"
    assert meta["config"]["features"] == "mel" and len(meta["config"]["members"]) == 2
    assert meta["data"]["val_ids"] == ["c1", "c2", "c3"]  # a calibration on its training clips sees none of them
    assert [m["path"] for m in meta["ensemble"]] == [str(p) for p in paths]
    assert meta["ensemble"][1]["val"]["val_mouth_lmd"] == pytest.approx(0.04)

    loaded = load_checkpoint(target)
    assert isinstance(loaded.net.module, Audio2LmkEnsemble) and loaded.predicts_head_pose
    singles = [load_checkpoint(p) for p in paths]
    source = face(90.0, -0.05, (140.0, 160.0), 6)
    audio = speech_like(2.5, seed=2)
    ensemble = LearnedAudio2Lmk(Audio2LmkEnsemble([s.net.module for s in singles]), meta)
    expected = ensemble(Speech.of(audio, SAMPLE_RATE), source, seed=1)
    assert np.array_equal(loaded(Speech.of(audio, SAMPLE_RATE), source, seed=1), expected)

    with pytest.raises(CheckpointError, match="different or unrecorded splits"):
        save_ensemble([paths[0], member_checkpoint(tmp_path, "c", 3, ["c4"], "splits/s2_train.txt")], tmp_path / "x")
    # an ensemble sidecar beside weights that are not the ensemble's
    broken = save_checkpoint(tmp_path / "broken", tiny_net("lstm", seed=1).state_dict(), meta)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(broken)
