# Two commands do all set-up on a fresh machine:
#   make demo   - creates .venv; lints, converts, runs (gates, MLflow, Bento) the classifier example, calls the Bento
#   make test   - creates .venv, runs the whole test suite (unit + end-to-end)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export PLOOMBER_STATS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true

.PHONY: venv demo test test-engines test-fast check format bench clean browser prometheus prometheus
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q uv
	$(PYTHON) -m uv venv -q --allow-existing -p $(PYTHON) $(VENV)
	$(PYTHON) -m uv pip install -q --python $(VENV)/bin/python -e ".[dev]"
	@touch $@

demo: venv
	$(BIN)/nbprod lint example_notebooks/classifier.ipynb
	$(BIN)/nbprod convert example_notebooks/classifier.ipynb
	$(BIN)/nbprod run example_notebooks/classifier.ipynb
	$(BIN)/python example_notebooks/call_service.py
	@echo "products, gate reports, the MLflow store and the Bento store are under .nbprod/"

# the browser test drives JupyterLab in Debian's headless Chromium (Playwright never downloads a browser)
browser:
	@[ -x /usr/bin/chromium ] || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null)

# the alert tests run Debian's promtool and their own Prometheus on loopback (the package's system service is stopped)
prometheus:
	@[ -x /usr/bin/promtool ] || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null && ($(SUDO) systemctl disable --now prometheus 2>/dev/null || true))

# style, types and the layer contracts of ARCHITECTURE.md; `make test` runs them first
check: venv
	$(BIN)/ruff check nbprod tests benchmarks
	$(BIN)/ruff format --check nbprod tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python benchmarks/code_metrics.py --check

format: venv
	$(BIN)/ruff format nbprod tests benchmarks
	$(BIN)/ruff check --fix nbprod tests benchmarks

test: check browser prometheus
	$(BIN)/python -m pytest -q -m "not engines"

# the exported pipelines on the real engines (Airflow 3, Kubeflow Pipelines' local runner), each installed into an
# environment of its own: minutes; CI runs them after `make test`
test-engines: venv
	$(BIN)/python -m pytest -q -m engines

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow"

bench: venv
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_convert.py
	$(BIN)/python benchmarks/bench_run.py
	$(BIN)/python benchmarks/bench_journey.py
	$(BIN)/python benchmarks/bench_gates.py
	$(BIN)/python benchmarks/bench_serve.py
	$(BIN)/python benchmarks/bench_load.py

clean:
	rm -rf $(VENV) .nbprod
