import numpy as np
import pytest
import soundfile as sf

from talkface.errors import MediaError
from talkface.media import read_audio, read_image, read_video, write_video


def _moving_square(n=20, h=64, w=80):
    frames = np.zeros((n, h, w, 3), np.uint8)
    for t in range(n):
        frames[t, 10:30, 2 * t:2 * t + 20] = (200, 50, 30)
    return frames


def _tone(seconds=1.0, sr=16000, freq=440.0):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_write_then_read_roundtrip_keeps_frames_and_audio(tmp_path):
    frames = _moving_square()
    audio = _tone(20 / 25)
    out = write_video(tmp_path / "v.mp4", frames, fps=25, audio=audio, sample_rate=16000, crf=10)
    video = read_video(out)
    assert video.frames.shape == frames.shape
    assert video.fps == 25
    assert np.abs(video.frames.astype(int) - frames).mean() < 4
    assert video.audio is not None and abs(len(video.audio) / 16000 - 0.8) < 0.05
    # the tone survives AAC: dominant frequency stays 440 Hz
    spectrum = np.abs(np.fft.rfft(video.audio))
    assert abs(np.argmax(spectrum) * 16000 / len(video.audio) - 440) < 5
    assert list(tmp_path.iterdir()) == [out]  # no temp files left


def test_odd_frame_size_is_padded_not_rejected(tmp_path):
    frames = _moving_square(5, 33, 47)
    video = read_video(write_video(tmp_path / "odd.mp4", frames, fps=25))
    assert video.frames.shape[0] == 5 and video.frames.shape[1] >= 33 and video.frames.shape[2] >= 47
    assert video.audio is None


@pytest.mark.parametrize("suffix,subtype", [(".wav", "PCM_16"), (".flac", "PCM_16")])
@pytest.mark.parametrize("sr", [8000, 44100])
def test_read_audio_resamples_and_downmixes(tmp_path, suffix, subtype, sr):
    stereo = np.stack([_tone(1.0, sr), _tone(1.0, sr)], axis=1)
    path = tmp_path / f"a{suffix}"
    sf.write(path, stereo, sr, subtype=subtype)
    wave = read_audio(path, 16000)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 16000) <= 16
    assert 0.3 < np.abs(wave).max() <= 1.0


def test_missing_empty_and_garbage_files_raise_one_line_errors(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        read_video(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        read_audio(empty)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 100)
    with pytest.raises(MediaError) as err:
        read_video(garbage)
    assert str(garbage) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MediaError, match="not a readable image"):
        read_image(garbage)


def test_write_into_missing_directory_fails_before_work(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        write_video(tmp_path / "missing" / "v.mp4", _moving_square(2), fps=25)


def test_grid_mp4_has_75_frames_and_3s_audio(grid_root):
    video = read_video(grid_root / "s1" / "bbaf2n.mp4")
    assert video.frames.shape == (75, 288, 360, 3)
    assert video.fps == 25
    assert abs(len(video.audio) / 16000 - 2.98) < 0.05


def test_grid_native_mpg_reads_like_the_mp4(grid_root, grid_mpg_samples):
    mpg = read_video(grid_mpg_samples / "bbaf3s.mpg")
    mp4 = read_video(grid_root / "s1" / "bbaf3s.mp4")
    assert mpg.frames.shape == mp4.frames.shape == (75, 288, 360, 3)
    # same utterance, near-identical pixels (mp4 is a 45 dB transcode of the mpg)
    assert np.abs(mpg.frames.astype(int) - mp4.frames).mean() < 4
    short = read_video(grid_mpg_samples / "sbbbzp.mpg")
    assert len(short.frames) == 74  # a known one-frame-short clip stays one frame short


@pytest.mark.parametrize("suffix", [".mp3", ".m4a", ".opus"])
def test_compressed_audio_formats_read_back_at_any_rate(tmp_path, suffix):
    from talkface.media import write_audio
    path = write_audio(tmp_path / f"tone{suffix}", _tone(1.0, 44100), 44100)
    wave = read_audio(path, 16000)
    assert abs(len(wave) / 16000 - 1.0) < 0.06  # codec padding stays within a frame or two
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * 16000 / len(wave) - 440) < 5


def test_audio_a_little_shorter_than_the_video_keeps_every_frame(tmp_path):
    frames = _moving_square(75)
    out = write_video(tmp_path / "grid_like.mp4", frames, fps=25, audio=_tone(2.978), sample_rate=16000)
    video = read_video(out)
    assert len(video.frames) == 75  # a GRID clip: 75 frames over 2.978 s of speech
    assert 2.9 < len(video.audio) / 16000 <= 3.05


def _png_header_only(path, width, height):
    """A PNG whose header claims width x height, with an empty image stream: Pillow can read its size."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))


def test_a_huge_photo_is_refused_from_its_header_before_decoding(tmp_path):
    huge = tmp_path / "huge.png"
    _png_header_only(huge, 20000, 20000)  # 400 megapixels: decoding it would take 1.2 GB
    before = huge.read_bytes()
    with pytest.raises(MediaError) as err:
        read_image(huge)
    message = str(err.value)
    assert "400 megapixels" in message and "120 megapixels" in message and "\n" not in message
    assert huge.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["huge.png"]


def test_the_photo_limit_counts_pixels_and_transparency_is_composited_in_row_blocks(tmp_path, monkeypatch):
    import cv2

    import talkface.media as media

    rng = np.random.default_rng(0)
    bgra = rng.integers(0, 256, (37, 30, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    alpha = bgra[..., 3:].astype(np.float32) / 255.0
    expected = np.clip(bgra[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)
    monkeypatch.setattr(media, "_COMPOSITE_ROWS", 4)
    monkeypatch.setattr(media, "MAX_PHOTO_PIXELS", 30 * 37)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), expected[..., ::-1])
    monkeypatch.setattr(media, "MAX_PHOTO_PIXELS", 30 * 37 - 1)
    with pytest.raises(MediaError, match="30x37 is more than"):
        read_image(tmp_path / "a.png")
    cv2.imwrite(str(tmp_path / "deep.png"), bgra.astype(np.uint16) * 257)  # 16 bits: half the limit
    monkeypatch.setattr(media, "MAX_PHOTO_PIXELS", 2 * 30 * 37)
    assert read_image(tmp_path / "deep.png").shape == (37, 30, 3)
    monkeypatch.setattr(media, "MAX_PHOTO_PIXELS", 2 * 30 * 37 - 2)
    with pytest.raises(MediaError, match="30x37 is more than .* a 16-bit photo"):
        read_image(tmp_path / "deep.png")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_transparent_png_is_turned_by_its_exif_orientation_like_an_opaque_one(tmp_path, orientation):
    """A PNG with transparency is decoded once (memory) and turned by our code: the same pixels and turn as
    OpenCV's colour decoding of the same picture without an alpha channel."""
    import cv2
    from PIL import Image

    rgb = np.random.default_rng(orientation).integers(0, 256, (20, 40, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.dstack([rgb, np.full((20, 40), 255, np.uint8)])).save(tmp_path / "a.png", exif=exif.tobytes())
    Image.fromarray(rgb).save(tmp_path / "opaque.png", exif=exif.tobytes())
    opaque = cv2.imdecode(np.fromfile(str(tmp_path / "opaque.png"), np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), opaque[..., ::-1])


def test_a_16_bit_transparent_png_keeps_the_high_byte_of_its_colour(tmp_path):
    import cv2

    bgra = np.random.default_rng(5).integers(0, 65536, (9, 11, 4), dtype=np.uint16)
    bgra[..., 3] = 65535
    bgra[0, 0, 3] = 0
    cv2.imwrite(str(tmp_path / "deep.png"), bgra)
    out = read_image(tmp_path / "deep.png")
    assert (out[0, 0] == 255).all()
    np.testing.assert_array_equal(out[1:], (bgra[1:, :, 2::-1] >> 8).astype(np.uint8))
