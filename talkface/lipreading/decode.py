"""Sentences from per-frame log-posteriors: Viterbi over the GRID grammar, and plain CTC greedy decoding.

Classes: 0 is silence (also the CTC blank), 1..51 are the GRID words in `grid.VOCABULARY` order.
"""

from __future__ import annotations

import numpy as np

from talkface.errors import TalkfaceError
from talkface.grid import GRAMMAR, SILENCE_TOKENS, VOCABULARY

SIL = 0
CLASSES = ["<sil>", *VOCABULARY]
WORD_CLASS = {w: i + 1 for i, w in enumerate(VOCABULARY)}
SLOTS = [sorted(slot.values()) for slot in GRAMMAR.values()]  # command colour preposition letter digit adverb


def word_class(word: str) -> int:
    """Class index of an alignment token (silences -> SIL); unknown words are an error."""
    if word in SILENCE_TOKENS:
        return SIL
    if word not in WORD_CLASS:
        raise TalkfaceError(f"{word!r}: not a GRID word")
    return WORD_CLASS[word]


def _grammar_hmm(min_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """States, their emitted class, log transitions, start and end masks, and (slot, word) per state.

    Left to right: sil_0, slot 1 words, sil_1, ..., slot 6 words, sil_6. Silences are optional; each word
    is a chain of `min_frames` states (the last one loops), so a word lasts at least `min_frames` frames.
    """
    emit, label = [], []                 # per state: class, (slot, word) or (-1, "") for silences
    sil_state, word_states = [], []      # sil_state[k]: state of silence k; word_states[k]: chains of slot k
    for k in range(len(SLOTS) + 1):
        sil_state.append(len(emit))
        emit.append(SIL)
        label.append((-1, ""))
        if k == len(SLOTS):
            break
        chains = []
        for word in SLOTS[k]:
            chains.append(list(range(len(emit), len(emit) + min_frames)))
            emit += [WORD_CLASS[word]] * min_frames
            label += [(k, word)] * min_frames
        word_states.append(chains)
    n = len(emit)
    allowed = np.zeros((n, n), bool)
    for s in sil_state:
        allowed[s, s] = True
    for k, chains in enumerate(word_states):
        entries = [c[0] for c in chains]
        exits = [c[-1] for c in chains]
        allowed[sil_state[k], entries] = True          # silence k -> a word of slot k
        for chain in chains:
            allowed[chain[:-1], chain[1:]] = True      # through the minimum-duration chain
            allowed[chain[-1], chain[-1]] = True       # the word goes on
            allowed[chain[-1], sil_state[k + 1]] = True
        if k + 1 < len(word_states):                   # straight into the next slot, no pause
            next_entries = [c[0] for c in word_states[k + 1]]
            allowed[np.ix_(exits, next_entries)] = True
    start = np.zeros(n, bool)
    start[sil_state[0]] = True
    start[[c[0] for c in word_states[0]]] = True
    end = np.zeros(n, bool)
    end[sil_state[-1]] = True
    end[[c[-1] for c in word_states[-1]]] = True
    log_trans = np.where(allowed, 0.0, -np.inf)
    return np.array(emit), log_trans, np.where(start, 0.0, -np.inf), np.where(end, 0.0, -np.inf), label


_HMM_CACHE: dict[int, tuple] = {}


def grammar_decode(log_probs: np.ndarray, min_frames: int = 2) -> list[str]:
    """The best GRID sentence (6 words, one per slot) for (T, len(CLASSES)) per-frame log-posteriors.

    Viterbi over the left-to-right grammar HMM with flat transitions: the path score is the sum of the
    frames' log-posteriors of their state's class. Clips too short for `min_frames` per word fall back
    to one frame per word.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.ndim != 2 or log_probs.shape[1] != len(CLASSES):
        raise TalkfaceError(f"grammar_decode: expected (T, {len(CLASSES)}) log-posteriors, got {log_probs.shape}")
    n_slots = len(SLOTS)
    if len(log_probs) < n_slots:
        raise TalkfaceError(f"grammar_decode: {len(log_probs)} frames cannot hold a {n_slots}-word sentence")
    min_frames = max(1, min(min_frames, len(log_probs) // n_slots))
    if min_frames not in _HMM_CACHE:
        _HMM_CACHE[min_frames] = _grammar_hmm(min_frames)
    emit, log_trans, log_start, log_end, label = _HMM_CACHE[min_frames]

    scores = log_start + log_probs[0, emit]
    back = np.empty((len(log_probs), len(emit)), np.int32)
    for t in range(1, len(log_probs)):
        cand = scores[:, None] + log_trans          # (from, to)
        back[t] = cand.argmax(0)
        scores = cand[back[t], np.arange(len(emit))] + log_probs[t, emit]
    state = int(np.argmax(scores + log_end))
    path = [state]
    for t in range(len(log_probs) - 1, 0, -1):
        state = int(back[t, state])
        path.append(state)
    words = [""] * n_slots
    for s in path:
        slot, word = label[s]
        if slot >= 0:
            words[slot] = word
    return words


def ctc_greedy_decode(log_probs: np.ndarray) -> list[str]:
    """Unconstrained reading: per-frame argmax, repeats merged, silence/blank dropped."""
    best = np.asarray(log_probs).argmax(-1)
    return [CLASSES[c] for i, c in enumerate(best) if c != SIL and (i == 0 or c != best[i - 1])]
