# Two entry points: `make demo` (the main job, end to end on the embedded default) and `make test`.
# Both create .venv and install what they need. Override torch for a GPU build, e.g.
#   make demo TORCH_SPEC="torch==2.11.0" PIP_TORCH_ARGS="--index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PIP_TORCH_ARGS ?=
BIN = $(VENV)/bin
STAMP = $(VENV)/.codec2vec-installed
CORE_STAMP = $(VENV)/.codec2vec-core-installed
DEMO_OUT ?= demo-output

.PHONY: install system-deps demo test test-slow clean real-en packaged-speech

# The package and its core dependencies: all that `codec2vec demo` uses (espeak-ng's voices come from PyPI).
$(CORE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(PIP_TORCH_ARGS) "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .
	touch $@

# Everything the tests touch: the extras (codec quality judges, Kaldi fbank, parquet, pytest) and s3prl.
$(STAMP): $(CORE_STAMP)
	$(BIN)/pip install -q -e ".[test,eval,share]"
	# s3prl for the bridge's tests (codec2vec.s3prl): without its dependencies, which pin torchaudio
	$(BIN)/pip install -q --no-deps "s3prl==0.4.18"
	touch $@

install: $(STAMP) system-deps

system-deps:
	@bash scripts/install-system-deps.sh

demo: $(CORE_STAMP)
	$(BIN)/codec2vec demo --out $(DEMO_OUT)

test: install
	$(BIN)/python -m pytest -q --durations=15

test-slow: install
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache

# Real English recordings from Debian packages (evaluation only), unpacked without root.
REAL_EN_PACKAGES = asterisk-core-sounds-en-wav asterisk-core-sounds-en pocketsphinx-testdata alsa-utils
real-en: install
	mkdir -p data/debs data/real-en-src
	cd data/debs && apt-get download $(REAL_EN_PACKAGES) || { echo "apt-get download failed: run 'sudo apt-get update' first, or install $(REAL_EN_PACKAGES)"; exit 1; }
	for f in data/debs/*.deb; do dpkg-deb -x "$$f" data/real-en-src; done
	$(BIN)/codec2vec corpus prepare real-en --src data/real-en-src --out data/real-en

# Real recorded speech in Debian games and learning apps (~1 h, ~30 languages): codec training data.
PACKAGED_SPEECH_PACKAGES = ktuberling-data klettres-data warzone2100-data hedgewars-data
packaged-speech: install
	mkdir -p data/debs data/packaged-speech-src
	cd data/debs && apt-get download $(PACKAGED_SPEECH_PACKAGES) || { echo "apt-get download failed: run 'sudo apt-get update' first, or install $(PACKAGED_SPEECH_PACKAGES)"; exit 1; }
	for f in data/debs/ktuberling-data_*.deb data/debs/klettres-data_*.deb data/debs/warzone2100-data_*.deb data/debs/hedgewars-data_*.deb; do dpkg-deb -x "$$f" data/packaged-speech-src; done
	$(BIN)/codec2vec corpus prepare packaged-speech --src data/packaged-speech-src --out data/packaged-speech
