"""The trained lmk2video generator behind the same call as the training-free WarpGenerator.

Numpy only: the net itself is a runner (`net(source, source_maps, target_maps, warped, full_warped, state) ->
(frames, attention, state)`, with `net.conditioning`) on ONNX Runtime (lmk2video/learned_onnx.py, the product's
default: no torch) or torch (lmk2video/learned_torch.py: training and `--backend torch`); everything around it
(the warp it is fed, its landmark maps, the correction, calibration, the carried state) is here, once.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from lmk2video.conditioning import (WarpStream, area_resize, landmark_maps, mesh_warp, rescale_points, to_signed,
                                    to_uint8)
from lmk2video.warp_generator import WarpGenerator
from lmk2video.mouth import LUMA, estimate_appearance
from lmk2video.regions import eye_masks, lip_masks, lower_face_masks, mouth_masks
from lmk2video.shipped import SHIPPED_CHECKPOINT
from lmk2video.trained_face import is_trained_face
from talkface.contracts import FrameStream, check_lmk2video_inputs

BACKENDS = ("onnx", "torch")


def generate_frames(net, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray,
                    warped: np.ndarray, batch_size: int = 16, with_attention: bool = False, state=None,
                    return_state: bool = False):
    """Frames (T, N, N, 3) uint8 for one clip from a generator runner (`net`, see the module docstring), produced in
    chunks of batch_size with the ConvLSTM state carried from chunk to chunk (so the result does not depend on
    batch_size). With with_attention, also the attention masks (T, N, N) float32. `state` continues a sequence
    from an earlier call; with return_state the ConvLSTM state after the last frame is returned last."""
    fed = net.conditioning
    n, work = source_crop.shape[0], int(fed.work_size)
    source = area_resize(to_signed(source_crop), work)
    source_maps = landmark_maps(rescale_points(np.asarray(source_lmk, np.float32), n, work), work, fed.heatmaps)
    frames = np.empty((len(target_lmks), *source_crop.shape), np.uint8)
    masks = np.empty((len(target_lmks), *source_crop.shape[:2]), np.float32) if with_attention else None
    for start in range(0, len(target_lmks), batch_size):
        stop = start + batch_size
        targets = rescale_points(np.asarray(target_lmks[start:stop], np.float32), n, work)
        full = to_signed(warped[start:stop])
        # each frame's maps drawn on their own: the compact drawing's sampling density follows its points' spread,
        # so maps drawn together would depend on which frames share a chunk
        target_maps = np.stack([landmark_maps(points, work, fed.heatmaps) for points in targets])
        out, attention, state = net(source, source_maps, target_maps, area_resize(full, work), full, state)
        frames[start:stop] = to_uint8(out)
        if masks is not None:
            masks[start:stop] = attention
    result = (frames,) + ((masks,) if with_attention else ()) + ((state,) if return_state else ())
    return result if len(result) > 1 else frames


class LearnedGenerator:
    """Animate one face crop along a landmark track with a trained MotionGAN-style generator.

    Same call as WarpGenerator; crops of any size work. The net runs on the crop at the size it was
    trained at (`arch.size`, 128 px; it paints at `work_size` inside it). With mouth_only (the default) the
    output is the warp at full size plus the net's correction (net output minus the warp at 128) upsampled: the
    photo's fine detail comes from the warp, the net adds only what the warp cannot (the mouth interior:
    cavity, teeth, tongue), smoothed at its own, coarser scale; with shading=True also its grey shading of the
    lips and the lower face (correction_field). Teeth visible in the photo (an open mouth with teeth) are not
    repainted: the correction is then nothing at all, so the net is not even run and the frames are the full-size
    warp's, which carries the photo's own teeth.

    mouth_only=False gives the net's own frames (at any size, composited over the warp at that size's 128
    version): what it was trained to produce, for evaluating the net itself.

    Identity calibration (on unless calibrate=False): asked for the photo's own landmarks, the right
    output is the photo itself, so whatever the net changes there is its own bias -- for a net trained
    on one speaker, a pull towards that speaker's skin, eyes and colours. That change is measured once
    per photo and subtracted from every frame, carried onto each frame's landmarks by the mesh warp.

    Its own training face (on unless own_face=False): when the photo is the person the net was trained on
    (lmk2video.trained_face: dlib face verification against the sidecar's `trained_face`), the output is the net's
    own frames plus only the full-size warp's detail finer than the net's size (at the net's size: its frames as
    they are): on that face its shading of the jaw, neck, hair outline and collar is right, on anyone else it is
    that person's look.

    Eyes from the warp (on unless keep_eyes=False): around the eyes and brows the output is the warped
    photo. A net trained on one speaker paints that speaker's eyelids there (blue-grey blotches on
    other faces, docs/results.md); speech moves the eyes only through blinks, which the warp renders
    by closing the photo's own lids.
    """

    def __init__(self, net, meta: dict | None = None, calibrate: bool = True, keep_eyes: bool = True,
                 mouth_only: bool = True, shading: bool = False, own_face: bool = True):
        self.calibrate, self.keep_eyes, self.mouth_only, self.shading = calibrate, keep_eyes, mouth_only, shading
        self.own_face = own_face
        self.net = net  # a runner: lmk2video.learned_onnx.OnnxNet or lmk2video.learned_torch.TorchNet
        self.meta = meta or {}
        self.warp = WarpStream(mouth=bool(net.conditioning.warp_mouth))

    def __call__(self, source_crop: np.ndarray, source_lmk: np.ndarray, target_lmks: np.ndarray,
                 batch_size: int = 16) -> np.ndarray:
        """source_crop (N, N, 3) uint8, source_lmk (68, 2), target_lmks (T, 68, 2) crop pixel
        coordinates -> (T, N, N, 3) uint8 frames, produced in order (ConvLSTM state carried)."""
        return self.stream(source_crop, source_lmk, batch_size)(target_lmks)

    def stream(self, source_crop: np.ndarray, source_lmk: np.ndarray, batch_size: int = 16) -> FrameStream:
        """Chunk-by-chunk rendering (the lmk2video contract): the ConvLSTM state is carried across chunks, so a
        long track rendered chunk by chunk equals one call over the whole track."""
        if not self.mouth_only:
            at_net = self._step_at_net_size(source_crop, source_lmk, batch_size)

            def step(target_lmks: np.ndarray, state):
                (out, _), state = at_net(target_lmks, state)
                return _to_uint8(out), state

            return FrameStream(step)
        corrected = self._step_with_correction(source_crop, source_lmk, batch_size)

        def step(target_lmks: np.ndarray, state):
            (_, plain, painted), state = corrected(target_lmks, state)
            return _to_uint8(plain + painted), state

        return FrameStream(step)

    def overlay_stream(self, source_crop: np.ndarray, source_lmk: np.ndarray, batch_size: int = 16) -> FrameStream:
        """Chunks of (coords, painted) (the lmk2video contract): the warp's mesh motion and what is painted over
        the source moved by it: the warp's mouth interior plus the net's correction, or (mouth_only=False)
        the net's own frames' difference from it."""
        if not self.mouth_only:
            frames = self.stream(source_crop, source_lmk, batch_size)
            motion = WarpGenerator().motion

            def step(target_lmks: np.ndarray, state):
                coords, plain = motion(source_crop, source_lmk, target_lmks)
                return (coords, frames(target_lmks).astype(np.float32) - plain), state

            return FrameStream(step)
        corrected = self._step_with_correction(source_crop, source_lmk, batch_size)

        def step(target_lmks: np.ndarray, state):
            (coords, _, painted), state = corrected(target_lmks, state)
            return (coords, painted), state

        return FrameStream(step)

    def _step_at_net_size(self, source_crop: np.ndarray, source_lmk: np.ndarray, batch_size: int):
        """(chunk, state) -> ((frames, warped) float32 at the net's own crop size, state)."""
        bias = self.identity_bias(source_crop, source_lmk) if self.calibrate else None

        def step(target_lmks: np.ndarray, state) -> tuple[tuple[np.ndarray, np.ndarray], object]:
            frames, warped, state = self._generate(source_crop, source_lmk, target_lmks, batch_size, state)
            out = frames.astype(np.float32)
            if bias is not None:
                out -= mesh_warp(bias, source_lmk, target_lmks)
            if self.keep_eyes:
                eyes = eye_masks(target_lmks, out.shape[1])[..., None]
                out = eyes * warped + (1.0 - eyes) * out
            return (out, warped.astype(np.float32)), state

        return step

    def _step_with_correction(self, source_crop: np.ndarray, source_lmk: np.ndarray, batch_size: int):
        """(chunk, state) -> ((coords, plain, painted) float32 at the crop's size, state): the full-size warp's
        motion and moved source (WarpGenerator.layers), and painted over it the warp's mouth interior plus the
        net's correction upsampled from the net's size: on its own training face the net's frames minus the
        full-size warp seen at the net's size, elsewhere correction_field's part of the net's change."""
        crop, src, _ = check_lmk2video_inputs(source_crop, source_lmk, np.zeros((0, 68, 2), np.float32))
        whole_face = self.own_face and is_trained_face(self.meta, crop, src)
        size, net_size = crop.shape[0], int(self.net.conditioning.size)
        warp = WarpGenerator()
        look = estimate_appearance(crop, src)
        if look.source_teeth and not whole_face:  # correction_field would keep none of the net's change: skip the net
            def warp_only(target_lmks: np.ndarray, state):
                return warp.layers(crop, src, np.asarray(target_lmks, np.float32), look), state

            return warp_only
        small = cv2.resize(crop, (net_size, net_size), interpolation=cv2.INTER_AREA)
        at_net = self._step_at_net_size(small, rescale_points(src, size, net_size), batch_size)

        def step(target_lmks: np.ndarray, state):
            target_lmks = np.asarray(target_lmks, np.float32)
            small_targets = rescale_points(target_lmks, size, net_size)
            (out, warped), state = at_net(small_targets, state)
            coords, plain, painted = warp.layers(crop, src, target_lmks, look)
            if whole_face:  # the net's own frames, with only the full-size warp's detail finer than the net's size
                correction = out - np.stack([cv2.resize(f, (net_size, net_size), interpolation=cv2.INTER_AREA)
                                             for f in plain + painted])
            else:
                correction = correction_field(out - warped, small_targets, look.source_teeth, self.shading)
            for layer, c in zip(painted, correction):
                layer += cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR)
            return (coords, plain, painted), state

        return step

    def identity_bias(self, source_crop: np.ndarray, source_lmk: np.ndarray) -> np.ndarray:
        """(N, N, 3) float32: the net's output for the photo's own landmarks minus the photo."""
        target = np.asarray(source_lmk, np.float32)[None]
        frames, _, _ = self._generate(source_crop, source_lmk, target, 1, None)
        return frames[0].astype(np.float32) - np.asarray(source_crop, np.float32)

    def _generate(self, source_crop, source_lmk, target_lmks, batch_size: int, state):
        """The net's frames, the warped source it was given (both (T, N, N, 3) uint8) and its state."""
        crop, src, tgt = check_lmk2video_inputs(source_crop, source_lmk, target_lmks)
        warped = np.concatenate([self.warp(crop, src, tgt[i:i + batch_size]) for i in range(0, len(tgt), batch_size)])
        frames, state = generate_frames(self.net, crop, src, tgt, warped, batch_size, state=state, return_state=True)
        return frames, warped, state


# net pixels (sigma): leaves 6 % of the finest pattern the net paints (1-px checker), half of a 4-px one
OPENING_BLUR = 0.75
LIP_SHADING_BLUR = 1.0  # net pixels (sigma): with shading=True the net's lip shading is kept at about its own scale
FACE_SHADING_BLUR = 6.0  # net pixels (sigma): over the rest of the lower face only its broad shading


def correction_field(change: np.ndarray, targets: np.ndarray, keep_teeth: bool, shading: bool = False) -> np.ndarray:
    """(T, n, n, 3) net output minus the warp, at the net's size, and the targets there -> the part of it added
    to the full-size warp (docs/results.md, "Where the net's correction counts"):

    - inside the mouth opening, all of it, smoothed by OPENING_BLUR: cavity, teeth and tongue, which the warp
      cannot draw, without the net's pixel-scale texture (upsampled, blocks of s1's grain on a sharp photo);
    - with `shading`, instead the change as it is in the opening, and its luminance (grey: the same on R, G and B)
      on the lips, blurred by LIP_SHADING_BLUR, and over the rest of the lower face, blurred by FACE_SHADING_BLUR:
      the shading of the stretching lips and the moving jaw that the s1 lipreader reads (it sees grey mouth
      crops), without the training face's colours. It reads better on s1 but other people's real frames are
      less like it (lower SSIM, larger identity distance), so it is off by default;
    - elsewhere nothing: the net's whole-face change is mostly the training face's look;
    - nothing at all when the photo's own teeth are to be kept (the warp carries them with their lips).
    """
    if keep_teeth:
        return np.zeros_like(change)
    size = change.shape[1]
    opening = mouth_masks(targets, size, 0.0)[..., None]
    if not shading:
        return opening * blur_frames(change, OPENING_BLUR)
    lips = lip_masks(targets, size)[..., None]
    luma = LUMA.astype(np.float32)
    fine = blur_frames(change, LIP_SHADING_BLUR) @ luma
    broad = blur_frames(change, FACE_SHADING_BLUR) @ luma
    grey = (lips * fine[..., None] + (1.0 - lips) * broad[..., None]) * lower_face_masks(targets, size)[..., None]
    return opening * change + (1.0 - opening) * grey


def blur_frames(frames: np.ndarray, sigma: float) -> np.ndarray:
    """Each frame of (T, n, n[, 3]) Gaussian-blurred by sigma pixels (sigma 0: unchanged)."""
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames]) if sigma > 0 else frames


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.round(frames), 0, 255).astype(np.uint8)


def load_checkpoint(path: str | os.PathLike = SHIPPED_CHECKPOINT, device: str = "cpu", backend: str = "onnx",
                    calibrate: bool = True, keep_eyes: bool = True, mouth_only: bool = True,
                    shading: bool = False, own_face: bool = True) -> LearnedGenerator:
    """A LearnedGenerator from an lmk2video checkpoint: with backend "onnx" its export beside it (`<stem>.onnx`, run by
    ONNX Runtime, no torch), with "torch" the safetensors itself (talkface.checkpoint.load_model)."""
    if backend == "onnx":
        from lmk2video.learned_onnx import load
    elif backend == "torch":
        from lmk2video.learned_torch import load
    else:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    net, meta = load(path, device)
    return LearnedGenerator(net, meta, calibrate, keep_eyes, mouth_only, shading, own_face)
