#!/usr/bin/env bash
# Regenerates the bundled examples: a public-domain face photo and a synthesised speech clip.
# Needs espeak-ng (Debian: apt-get install espeak-ng) and the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
$PY - <<'PY'
import cv2, skimage.data
cv2.imwrite("talkface/examples/face.png", cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
PY
tmp=$(mktemp --suffix .wav)
espeak-ng -v en-us -s 150 -w "$tmp" "Hello. I am a talking face, made from one photo and one recording. Place blue at F two now."
$PY - "$tmp" <<'PY'
import sys, soundfile as sf
from talkface.media import read_audio
sf.write("talkface/examples/speech.wav", read_audio(sys.argv[1], 16000), 16000, subtype="PCM_16")
PY
rm -f "$tmp"
