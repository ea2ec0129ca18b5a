import numpy as np

from talkface.audio_features import N_MELS, dequantise_mel, log_mel, mel_per_video_frame, quantise_mel


def test_log_mel_matches_librosa():
    librosa = __import__("librosa")
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    ref = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=512, win_length=400, hop_length=160,
                                         n_mels=80, fmin=55, fmax=8000)
    assert np.allclose(log_mel(wave, 16000), np.log(np.maximum(ref.T, 1e-5)), atol=1e-3)


def test_a_tone_lights_the_band_of_its_frequency():
    t = np.arange(16000) / 16000
    low = log_mel(np.sin(2 * np.pi * 200 * t).astype(np.float32))
    high = log_mel(np.sin(2 * np.pi * 3000 * t).astype(np.float32))
    assert low.mean(0).argmax() < high.mean(0).argmax()


def test_four_mel_frames_per_video_frame_and_padding():
    wave = np.zeros(int(2.98 * 16000), np.float32)
    mel = mel_per_video_frame(wave, 16000, 75, 25.0)
    assert mel.shape == (75, 4, N_MELS)
    assert mel_per_video_frame(wave, 16000, 80, 25.0).shape == (80, 4, N_MELS)  # padded past the end


def test_quantisation_error_is_below_a_tenth_of_a_nat():
    mel = np.linspace(-11.5, 5.0, 1000, dtype=np.float32)
    assert np.abs(dequantise_mel(quantise_mel(mel)) - mel).max() < 0.05
