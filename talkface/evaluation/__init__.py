"""The product measured end to end (`talkface eval grid|people|dub|expression`): each module runs one evaluation
over the pipeline, the dubber or the editor and writes its report through `talkface/report.py`.

`end_to_end.py` GRID s1 (PSNR/SSIM, landmarks, FMS, WER); `people.py` people who are not s1; `dub.py` dubbing
(GRID, and any talking video frame by frame with `dub_video.py`); `expression.py` expression control.
"""
