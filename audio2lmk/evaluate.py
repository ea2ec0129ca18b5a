"""Evaluation of audio2lmk models on a prepared speaker's test clips against the real landmark tracks.

Each model gets the clip's audio and the first real frame's landmarks as the source and must
produce the track; blinks and random head sway are off for every model (they are not predicted
from the audio and would only add noise); a head pose the model predicts from the speech is kept. Rows: the learned checkpoint, the phonetic default and the
still face (first frame repeated, the floor). Numbers, averaged over clips:
- lmd / mouth_lmd: talkface.metrics.landmarks in image coordinates, normalised by the real
  interocular distance (the protocol's LMD; includes the real head's drift, which no row predicts);
- lmd_aligned / mouth_lmd_aligned: the same after aligning every frame of both tracks to the
  normalised face frame (stable points), i.e. speech motion only;
- mouth_lmd_aligned_speech: mouth_lmd_aligned over the frames inside spoken words only (GRID
  alignments), leaving out the silent lead-in and tail that make up about half of a GRID clip;
- mouth_opening_corr: Pearson correlation over time of the mouth opening (0 for a still mouth).
With voice_shift, every clip's audio is shifted by that many semitones (pitch and formants
together, duration kept, librosa's phase-vocoder pitch shift): a voice the models never heard,
the closest this single-speaker corpus comes to testing other speakers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from audio2lmk.learned import load_checkpoint
from talkface import grid
from talkface.audio import SAMPLE_RATE
from talkface.errors import TalkfaceError
from talkface.landmarks.indices import MOUTH
from talkface.landmarks.normalize import to_normalised
from talkface.metrics.landmarks import landmark_scores, lmd
from talkface.prepared import PreparedSet
from talkface.report import markdown_table, write_report
from talkface.speech import Speech

Model = Callable[[np.ndarray, np.ndarray, int], np.ndarray]  # (audio16k, source (68,2), n_frames) -> track
METRICS = ("mouth_lmd", "lmd", "mouth_lmd_aligned", "lmd_aligned", "mouth_lmd_aligned_speech", "mouth_opening_corr",
           "ced_auc", "failure_rate")


def speech_frames(words: list[dict], n_frames: int) -> np.ndarray:
    """(n_frames,) bool: frames inside a spoken word of the alignment (all frames if there is none)."""
    mask = np.zeros(n_frames, bool)
    for w in words:
        if w["word"] not in grid.SILENCE_TOKENS:
            mask[int(np.floor(w["start"])):int(np.ceil(w["end"]))] = True
    return mask if mask.any() else np.ones(n_frames, bool)


def clip_scores(pred: np.ndarray, real: np.ndarray, speech: np.ndarray | None = None) -> dict[str, float]:
    scores = landmark_scores(pred, real)
    pred_n, real_n = to_normalised(pred)[0], to_normalised(real)[0]
    scores["lmd_aligned"] = lmd(pred_n, real_n)
    scores["mouth_lmd_aligned"] = lmd(pred_n, real_n, MOUTH)
    speech = np.ones(len(real), bool) if speech is None else speech
    scores["mouth_lmd_aligned_speech"] = lmd(pred_n[speech], real_n[speech], MOUTH)
    return scores


def shift_voice(wave16k: np.ndarray, semitones: float) -> np.ndarray:
    """The same speech, same duration, in a voice `semitones` higher (pitch and formants)."""
    import librosa

    return librosa.effects.pitch_shift(np.asarray(wave16k, np.float32), sr=SAMPLE_RATE, n_steps=semitones)


def _fit_length(track: np.ndarray, n: int) -> np.ndarray:
    """Trim, or hold the last frame, so a track has exactly n frames (rounding of audio length)."""
    if len(track) >= n:
        return track[:n]
    return np.concatenate([track, np.repeat(track[-1:], n - len(track), axis=0)])


def _models(checkpoint: str | os.PathLike | None, device: str = "cpu") -> tuple[dict[str, Model], dict[str, str]]:
    models: dict[str, Model] = {}
    notes: dict[str, str] = {}
    if checkpoint is not None:
        learned = load_checkpoint(checkpoint, device)
        pose = learned.predicts_head_pose
        models["learned"] = lambda audio, src, n: learned(Speech.of(audio, SAMPLE_RATE), src, blink=False,
                                                          head_motion=pose)
        notes["learned"] = (f"{checkpoint} ({learned.meta['config']['kind']}"
                            f"{', head pose predicted from speech' if pose else ''})")
    try:
        from audio2lmk.phonetic import PhoneticAudio2Lmk

        phonetic = PhoneticAudio2Lmk()
        models["phonetic"] = lambda audio, src, n: phonetic(Speech.of(audio, SAMPLE_RATE), src, blink=False,
                                                            head_motion=False)
        notes["phonetic"] = "audio2lmk.PhoneticAudio2Lmk (training-free default)"
    except Exception as err:  # the default is a colleague's work in progress: report, don't fail
        notes["phonetic"] = f"not available ({type(err).__name__}: {err})"
    models["still"] = lambda audio, src, n: np.repeat(src[None], n, axis=0)
    notes["still"] = "first real frame repeated"
    return models, notes


def evaluate_audio2lmk(checkpoint: str | os.PathLike | None, prepared: str | os.PathLike, split: str = "test",
                       speaker: str = "s1", grid_root: str | os.PathLike = "../shared/data/grid",
                       limit: int | None = None, voice_shift: float = 0.0, device: str = "cpu") -> dict:
    """Scores of the learned checkpoint (None: baselines only), the phonetic default and the still face."""
    data = PreparedSet(prepared)
    split_file = grid.split_path(grid_root, speaker, split)
    split_ids = grid.read_split(split_file)
    ids = data.ids(split_ids)[:limit]
    if not ids:
        raise TalkfaceError(f"{data.root}: no usable clips of split {split_file}")
    models, notes = _models(checkpoint, device)
    per_clip: dict[str, dict[str, dict]] = {name: {} for name in models}
    seconds = {name: 0.0 for name in models}
    for clip_id in tqdm(ids, desc="evaluating audio2lmk"):
        clip = data.load(clip_id, crops=False, audio=True)
        audio = shift_voice(clip.audio, voice_shift) if voice_shift else clip.audio
        real = clip.landmarks
        speech = speech_frames(clip.words, len(real))
        for name, model in models.items():
            t0 = time.perf_counter()
            pred = _fit_length(np.asarray(model(audio, real[0], len(real)), np.float32), len(real))
            seconds[name] += time.perf_counter() - t0
            per_clip[name][clip_id] = clip_scores(pred, real, speech)
    summary = {name: {m: float(np.mean([s[m] for s in clips.values()])) for m in METRICS}
               for name, clips in per_clip.items()}
    for name in summary:
        summary[name]["seconds_per_clip"] = seconds[name] / len(ids)
    return {"split": split, "split_file": str(split_file), "voice_shift_semitones": voice_shift,
            "clips": ids, "excluded": data.excluded(split_ids),
            "models": notes, "summary": summary, "per_clip": per_clip}


def report_markdown(result: dict) -> str:
    table = markdown_table(["model", *METRICS, "s/clip"],
                           [[name, *(f"{scores[m]:.4f}" for m in METRICS), f"{scores['seconds_per_clip']:.2f}"]
                            for name, scores in result["summary"].items()])
    notes = "\n".join(f"- {name}: {note}" for name, note in result["models"].items())
    excluded = ", ".join(f"{k} ({v})" for k, v in result["excluded"].items()) or "none"
    shift = result.get("voice_shift_semitones", 0.0)
    voice = f", voice shifted {shift:+g} semitones" if shift else ""
    return (f"# audio2lmk evaluation ({result['split']}, {len(result['clips'])} clips of {result['split_file']}{voice})\n\n"
            f"{table}\n\n{notes}\n\nExcluded clips: {excluded}\n\n"
            "LMD: mean landmark distance / real interocular; `_aligned`: both tracks aligned to the normalised face "
            "frame first (speech motion only, no head drift); `_speech`: frames inside spoken words only. "
            "No blinks or random head sway in any row; a head pose predicted from the speech is kept.\n")


def run_eval_audio2lmk(checkpoint: str | os.PathLike | None, prepared: str | os.PathLike, split: str = "test",
                       out_dir: str | os.PathLike = "runs/audio2lmk/eval", **kwargs) -> dict:
    """Evaluate and write `<out_dir>/audio2lmk_<split>[_voice<shift>].md` and `.json`; returns the result."""
    result = evaluate_audio2lmk(checkpoint, prepared, split, **kwargs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shift = result["voice_shift_semitones"]
    name = f"audio2lmk_{split}" + (f"_voice{shift:+g}" if shift else "")
    text = report_markdown(result)
    write_report(out, name, result, text)
    print(text)
    return result
