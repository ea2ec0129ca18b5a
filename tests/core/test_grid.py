import pytest

from talkface import grid
from talkface.errors import TalkfaceError


def test_transcript_from_id_spells_the_sentence():
    assert grid.transcript_from_id("bbaf2n") == "bin blue at f two now"
    assert grid.transcript_from_id("swao7a") == "set white at o seven again"
    assert grid.transcript_from_id("lgaz8p") == "lay green at z eight please"
    with pytest.raises(TalkfaceError):
        grid.transcript_from_id("xxxxxx")


def test_alignment_units_are_thousandths_of_a_frame(tmp_path):
    path = tmp_path / "c.align"
    path.write_text("0 23750 sil\n23750 29500 bin\n29500 34000 blue\n53000 74500 sil\n")
    words = grid.read_alignment(path)
    assert words[1] == grid.Word(23.75, 29.5, "bin")
    assert grid.transcript_from_alignment(words) == "bin blue"


def test_find_clips_in_the_usual_layouts(tmp_path):
    (tmp_path / "a" / "s1").mkdir(parents=True)
    (tmp_path / "a" / "s1" / "bbaf2n.mpg").write_bytes(b"x")
    (tmp_path / "a" / "s1" / "bbaf2n.mp4").write_bytes(b"x")
    (tmp_path / "a" / "alignments" / "s1").mkdir(parents=True)
    (tmp_path / "a" / "alignments" / "s1" / "bbaf2n.align").write_text("0 1000 sil\n")
    nested = tmp_path / "b" / "s2" / "video" / "mpg_6000"
    nested.mkdir(parents=True)
    (nested / "lgaz8p.mpg").write_bytes(b"x")
    (tmp_path / "b" / "s2" / "align").mkdir(parents=True)
    (tmp_path / "b" / "s2" / "align" / "lgaz8p.align").write_text("0 1000 sil\n")

    clips = grid.find_clips(tmp_path / "a")
    assert [(c.clip_id, c.speaker, c.video.suffix) for c in clips] == [("bbaf2n", "s1", ".mpg")]
    assert clips[0].alignment.name == "bbaf2n.align"
    clips = grid.find_clips(tmp_path / "b", speakers=["s2"])
    assert clips[0].clip_id == "lgaz8p" and clips[0].alignment is not None
    assert grid.find_clips(tmp_path / "b", speakers=["s9"]) == []


def test_real_corpus_has_1000_s1_clips_with_alignments(grid_root):
    clips = grid.find_clips(grid_root, ["s1"])
    assert len(clips) == 1000
    assert all(c.alignment is not None for c in clips)
    train = grid.read_split(grid.split_path(grid_root, "s1", "train"))
    test = grid.read_split(grid.split_path(grid_root, "s1", "test"))
    assert len(train) == 900 and len(test) == 100 and not set(train) & set(test)
    for clip in clips[:50]:
        assert grid.transcript_from_alignment(grid.read_alignment(clip.alignment)) == grid.transcript_from_id(clip.clip_id)


def test_shipped_split_copies_match_the_corpus(grid_root):
    from pathlib import Path
    shipped = Path(grid.__file__).parent / "splits"
    for name in ("s1_train.txt", "s1_test.txt"):
        assert (shipped / name).read_text().split() == (grid_root / "splits" / name).read_text().split()
