# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint benchmark schema clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	# torch first, pinned: this resolves to the CPU build instead of pulling CUDA packages.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	# The peer of the image-attack cross-check: its metadata pins an old requests and wants torchvision.
	$(PY) -m pip install --quiet --no-deps -c constraints.txt torchattacks==3.5.1
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/modelgate demo

# Four workers on 2 cores, a test file each at a time: much of a test's time is waiting on servers, CLIs and judges
# (six were no faster: the cores are busy 95% of the time with four).
test: $(STAMP)
	$(PY) -m pytest -n 4 --dist loadfile

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports

benchmark: $(STAMP)
	$(PY) benchmarks/promotion_overhead.py

schema: $(STAMP)
	$(VENV)/bin/modelgate schema

clean:
	rm -rf .modelgate .pytest_cache .ruff_cache

# A headless Chromium for the browser tests: Debian's package, driven by Playwright (no browser download).
.PHONY: browser
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "note: no /usr/bin/chromium and no apt-get; install Chromium yourself, or the browser tests skip (fail with CI=true)"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else \
		echo "note: /usr/bin/chromium is missing and installing it needs root: sudo apt-get install chromium"; \
		echo "      (until then the browser tests skip; with CI=true they fail)"; \
	fi

test test-fast: browser
