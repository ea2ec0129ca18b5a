"""scripts/audio2lmk_lipreading.py's cross-voice WER (issue 13): an s1 photo driven by other GRID speakers'
sentences, read by the project's lipreader. Unit checks on made-up files, one integration run on the GRID s1
corpus and ../shared/data/dev/grid_other (skipped without them)."""
from __future__ import annotations

from pathlib import Path

import pytest

from scripts.audio2lmk_lipreading import other_voices, other_wer, voice_sentence
from talkface.errors import TalkfaceError

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev"


def test_voice_sentence_from_alignment_else_grid_id(tmp_path):
    aligned = tmp_path / "xyz.mpg"
    aligned.write_bytes(b"")
    (tmp_path / "xyz.align").write_text("0 23750 sil\n23750 29500 set\n29500 34000 white\n34000 35500 with\n"
                                        "35500 41000 p\n41000 47250 two\n47250 53000 soon\n53000 74500 sil\n")
    assert voice_sentence(aligned) == "set white with p two soon"  # the alignment, whatever the name
    assert voice_sentence(tmp_path / "priazn.mpg") == "place red in a zero now"  # the sentence its GRID id spells
    with pytest.raises(TalkfaceError, match="hello.wav: no .align beside it"):
        voice_sentence(tmp_path / "hello.wav")


def test_other_voices_names_a_glob_that_matches_nothing(tmp_path):
    assert other_voices([]) == []
    with pytest.raises(TalkfaceError, match=r"--other-voices .*\*\.mpg: no file matches"):
        other_voices([str(tmp_path / "*.mpg")])


def test_other_wer_overall_and_per_voice():
    rows = [{"voice": "a", "reference": "bin blue at f two now", "hypothesis": "bin blue at f two now"},
            {"voice": "b", "reference": "set white with p two soon", "hypothesis": "set red with p nine soon"},
            {"voice": "a", "reference": "lay green by e one again", "hypothesis": "lay green by e one please"}]
    scores = other_wer(rows)
    assert scores["other_wer"] == pytest.approx(3 / 18)
    assert scores["other_wer_by_voice"] == pytest.approx({"a": 1 / 12, "b": 2 / 6})
    assert list(scores["other_wer_by_voice"]) == ["a", "b"]  # in the order the voices came


@pytest.mark.slow
def test_cross_voice_drives_an_s1_photo_by_each_other_voice(grid_root):
    if not (DEV / "grid_other" / "swwp2s.mpg").is_file() or not (DEV / "grid_other" / "priazn.mpg").is_file():
        pytest.skip(f"dev GRID speakers not found at {DEV / 'grid_other'}")
    import torch

    from audio2lmk.learned import SHIPPED_CHECKPOINT
    from scripts.audio2lmk_lipreading import Variants, cross_voice_rows
    from talkface import grid
    from talkface.face_crop import crop_transform
    from talkface.lipreading.wer import LipReader
    from talkface.media import read_video
    from talkface.pipeline import Synthesizer
    from talkface.stages import load_lmk2video

    torch.set_num_threads(1)
    clips = {c.clip_id: c for c in grid.find_clips(grid_root, ["s1"])}
    clip_id = next(i for i in grid.read_split(grid.split_path(grid_root, "s1", "test")) if i in clips)
    photo = read_video(clips[clip_id].video, with_audio=False).frames[0]
    synth = Synthesizer(audio2lmk="phonetic", lmk2video="learned")
    synth._stages["lmk2video"] = load_lmk2video("learned", "cpu", mouth_only=False)  # as the script renders
    source = synth.source_face(photo, name=clip_id)
    voices = other_voices([str(DEV / "grid_other" / "*.mpg")])
    assert [(name, sentence) for name, _, sentence in voices] == [
        ("priazn", "place red in a zero now"), ("swwp2s", "set white with p two soon")]
    variants = Variants()
    learned = f"ck:{SHIPPED_CHECKPOINT}"
    for name, audio, _ in voices:  # each voice's own duration sets the track's length
        assert len(variants.track(learned, None, source.landmarks, audio)) == round(len(audio) / 16000 * 25)
    rows = cross_voice_rows(synth, LipReader.load(), variants, [learned, "still", "real"], clip_id, source,
                            crop_transform(source.landmarks), voices)
    assert list(rows) == [learned, "still"]  # a real track exists only for the clip's own voice
    for spec_rows in rows.values():
        assert [(r["clip"], r["voice"], r["reference"]) for r in spec_rows] == [
            (clip_id, name, sentence) for name, _, sentence in voices]
        assert all(len(r["hypothesis"].split()) == 6 for r in spec_rows)  # a GRID sentence read from the mouth
    # the unmoving photo reads the same whatever the voice; the learned mouth follows each voice
    assert rows["still"][0]["hypothesis"] == rows["still"][1]["hypothesis"]
    assert rows[learned][0]["hypothesis"] != rows[learned][1]["hypothesis"]
