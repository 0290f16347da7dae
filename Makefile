# facewidget: two commands do everything on a fresh machine.
#   make demo            set up, then open notebooks/tour.ipynb in JupyterLab (HEADLESS=1: execute the
#                        tour and the teaching notebooks into $(DEMO_OUT)/, with interactive HTML exports)
#   make test            set up (plus test tools and Chromium), then run every test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := .make
HEADLESS ?=
DEMO_OUT ?= demo-output

.PHONY: demo test setup setup-test assets js chromium clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Installs the package (editable) with its dependencies; the hatch build hook builds js/ when present.
# quantus (facewidget.evaluate.quantus_adapter) goes in with --no-deps: it declares opencv-python, which would
# replace mediapipe's opencv-contrib-python (both are cv2); its other dependencies are the `quantus` extra.
QUANTUS := quantus==0.6.0
$(STAMP)/install: pyproject.toml $(PY)
	@mkdir -p $(STAMP)
	$(PIP) install -q -e ".[test,dask,quantus]"
	$(PIP) install -q --no-deps "$(QUANTUS)"
	@touch $@

$(STAMP)/assets: $(STAMP)/install facewidget/data/registry.py
	$(PY) -m facewidget.data fetch
	@touch $@

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

js:
	@if [ -f js/package.json ]; then cd js && npm ci --no-audit --no-fund --loglevel=error && npm run build; fi

setup: $(STAMP)/install js $(STAMP)/assets

setup-test: setup chromium

test: setup-test
	@if [ -f js/package.json ]; then cd js && npm test; fi
	$(PY) -m mypy
	$(PY) -m pytest

demo: setup
ifeq ($(HEADLESS),1)
	$(PY) notebooks/run_headless.py $(DEMO_OUT)
else
	$(VENV)/bin/jupyter lab notebooks/tour.ipynb
endif

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(STAMP) $(VENV) js/node_modules facewidget/static
