# linuxnet.keepalive: every entry point. `make demo` and `make test` install what they need.
#
# Nothing is written to the user's home: HOME, ANSIBLE_HOME and ANSIBLE_COLLECTIONS_PATH point at
# .cache/ (git-ignored), the toolchain lives in .venv/ (git-ignored), and Podman reads its settings
# from tests/rig/containers.conf through CONTAINERS_CONF.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
CACHE := $(ROOT)/.cache
VENV := $(ROOT)/.venv
COLLECTIONS := $(CACHE)/collections
# ansible-core is pinned in requirements-dev.txt; the `ansible` package of the same series carries
# the containers.podman collection that Molecule's podman driver needs (Galaxy is not reachable).
ANSIBLE_PACKAGE := ansible==12.3.0
# The pip version that the pinned ansible-test bootstraps in its virtual environments.
ANSIBLE_TEST_PIP := 24.2
APT_PACKAGES := podman runc debootstrap uidmap iproute2 procps iptables util-linux gcc libc6-dev make curl valgrind strace \
                libkeepalive0 systemd
# Unpacked into .cache/tools rather than installed, so that no service of theirs starts on this machine:
# promtool and prometheus for the alerting rules' tests, prometheus-node-exporter for its textfile collector.
TOOL_PACKAGES := prometheus prometheus-node-exporter
TOOLS := $(CACHE)/tools
PLATFORMS := bookworm trixie

export HOME := $(CACHE)/home
export ANSIBLE_HOME := $(CACHE)/ansible
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_LOCAL_TEMP := $(CACHE)/ansible/tmp
export CONTAINERS_CONF := $(ROOT)/tests/rig/containers.conf
# The rig's podman connection for the Molecule containers: containers.podman.podman with pipelining.
export ANSIBLE_CONNECTION_PLUGINS := $(ROOT)/tests/rig/connection_plugins
export ANSIBLE_PIPELINING := True
export PATH := $(VENV)/bin:$(TOOLS)/usr/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONDONTWRITEBYTECODE := 1
export LC_ALL := C.UTF-8

PYTEST_MARKERS :=

SCENARIOS := $(sort $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

.PHONY: help deps tools venv collections images setup lint sanity units integration molecule build \
        perf perf-smoke demo check test static clean compat compat-stage compat-venvs \
        $(addprefix molecule-,$(SCENARIOS))

help:
	@echo "Entry points (each installs what it needs):"
	@echo "  make demo          a disposable container, the collection run in it, and this machine's own facts"
	@echo "  make test          every check, as CI runs it, with a table of stage times at the end"
	@echo "  make check         the fast loop: lint, sanity, units and integration tests"
	@echo "Stages of make test, each on its own:"
	@echo "  make lint          yamllint, ansible-lint (production), antsibull-changelog and antsibull-docs lint"
	@echo "  make sanity        ansible-test sanity, with empty ignore files"
	@echo "  make units         ansible-test units (tests/unit)"
	@echo "  make integration   pytest tests/integration: real sockets in private namespaces"
	@echo "  make build         the collection built, installed, imported as Galaxy would, ansible-doc of every plugin"
	@echo "  make molecule      every Molecule scenario, side by side ($(SCENARIOS))"
	@echo "  make molecule-NAME one scenario: $(addprefix molecule-,$(SCENARIOS))"
	@echo "  make perf-smoke    every benchmark at a small size (proves they run; not figures to quote)"
	@echo "  make compat        every claimed ansible-core minor and target Python: docs, the role, the modules, sanity"
	@echo "Other targets:"
	@echo "  make perf          the benchmarks at full size (tests/perf), with their figures and ratios"
	@echo "  make setup         Debian packages, the virtual environment and the collections"
	@echo "  make images        the Debian images of the Molecule scenarios and the compatibility stage, side by side"
	@echo "  make clean         remove the virtual environment, caches and test containers"

# --- set-up ---------------------------------------------------------------------------------------

deps: $(CACHE)/stamps/apt
$(CACHE)/stamps/apt: Makefile
	@mkdir -p $(@D) $(HOME)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

tools: $(TOOLS)/.installed
$(TOOLS)/.installed: Makefile | deps
	@rm -rf $(TOOLS) $(CACHE)/debs && mkdir -p $(TOOLS) $(CACHE)/debs
	@echo "unpacking $(TOOL_PACKAGES) into $(TOOLS)"
	@cd $(CACHE)/debs && { apt-get download -qq $(TOOL_PACKAGES) 2>/dev/null \
	  || { apt-get update -qq && apt-get download -qq $(TOOL_PACKAGES); }; }
	@for deb in $(CACHE)/debs/*.deb; do dpkg-deb -x $$deb $(TOOLS); done
	@$(TOOLS)/usr/bin/promtool --version >/dev/null 2>&1 && $(TOOLS)/usr/bin/prometheus-node-exporter --version >/dev/null 2>&1
	@touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt | deps
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	@echo "installing the Python toolchain into .venv"
	@$(VENV)/bin/pip install -q -r requirements-dev.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	@$(VENV)/bin/python -c "import ansible, molecule, testinfra, pytest, antsibull_docs, ansible_runner, ansible_builder, xmlschema"
	@mkdir -p $(CACHE)/wheels
	@$(VENV)/bin/pip download -q --no-deps -d $(CACHE)/wheels pip==$(ANSIBLE_TEST_PIP) 2>&1 | { grep -v "^WARNING: Location" || true; }
	@touch $@

collections: $(COLLECTIONS)/.installed
$(COLLECTIONS)/.installed: Makefile | venv
	@mkdir -p $(COLLECTIONS)/ansible_collections/linuxnet $(CACHE)/download
	@echo "unpacking containers.podman from $(ANSIBLE_PACKAGE)"
	@rm -rf $(COLLECTIONS)/ansible_collections/containers
	@$(VENV)/bin/pip download -q --no-deps -d $(CACHE)/download $(ANSIBLE_PACKAGE) 2>&1 | { grep -v "^WARNING: Location" || true; }
	@cd $(COLLECTIONS) && $(VENV)/bin/python -m zipfile -e $(CACHE)/download/$(subst ==,-,$(ANSIBLE_PACKAGE))-py3-none-any.whl $(CACHE)/download/ansible >/dev/null \
	  && mkdir -p ansible_collections/containers \
	  && cp -a $(CACHE)/download/ansible/ansible_collections/containers/podman ansible_collections/containers/ \
	  && rm -rf $(CACHE)/download/ansible
	@# The collection under test is the working tree itself, never an installed copy.
	@ln -sfn $(ROOT) $(COLLECTIONS)/ansible_collections/linuxnet/keepalive
	@touch $@

images: | deps
	@pids=""; for suite in $(PLATFORMS); do tests/rig/build-image.sh $$suite & pids="$$pids $$!"; done; \
	tests/rig/build-image.sh bookworm minimal & pids="$$pids $$!"; \
	status=0; for pid in $$pids; do wait $$pid || status=1; done; exit $$status

setup: deps tools venv collections

# --- checks ---------------------------------------------------------------------------------------

# ansible-test must run from .../ansible_collections/linuxnet/keepalive: a fresh copy of the tracked
# and new files, so that stale build products never reach it. The copy is a git repository of its
# own, since ansible-test lists its targets with git and this repository ignores .cache/.
ATEST_ROOT := $(CACHE)/ansible-test/ansible_collections/linuxnet/keepalive
define atest_copy
	rm -rf $(ATEST_ROOT) && mkdir -p $(ATEST_ROOT)
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -P -t $(ATEST_ROOT)/
	cd $(ATEST_ROOT) && git init -q && git add -A
	mkdir -p $(HOME)/.ansible/test/cache
	cp tests/rig/get_pip_standin.py $(HOME)/.ansible/test/cache/get_pip_$(subst .,_,$(ANSIBLE_TEST_PIP)).py
	mkdir -p $(HOME)/.ansible/test/cache/wheels && cp $(CACHE)/wheels/pip-*.whl $(HOME)/.ansible/test/cache/wheels/
endef

lint: setup
	yamllint -s .
	ansible-lint --offline
	antsibull-changelog lint
	cd $(COLLECTIONS)/ansible_collections/linuxnet/keepalive && antsibull-docs lint-collection-docs --plugin-docs .
	@for f in tests/sanity/ignore-*.txt; do test ! -s $$f || { echo "$$f must stay empty"; exit 1; }; done

sanity: setup
	@$(atest_copy)
	cd $(ATEST_ROOT) && ansible-test sanity --color no --python 3.11 --requirements

units: setup
	@$(atest_copy)
	cd $(ATEST_ROOT) && ansible-test units --color no --python 3.11

# Two workers, a test file each at a time: every file makes its own namespaces, ports and folders, and most of the
# time goes to waiting for idle timers, so the two cores are used while one test waits.
integration: setup images
	pytest -p no:cacheprovider -n 2 --dist loadfile tests/integration -q

build: setup
	@$(VENV)/bin/python tests/rig/check_release.py
	@rm -rf $(CACHE)/build && mkdir -p $(CACHE)/build/installed
	ansible-galaxy collection build --force --output-path $(CACHE)/build .
	ansible-galaxy collection install --force -p $(CACHE)/build/installed $(CACHE)/build/linuxnet-keepalive-*.tar.gz
	@tar -tzf $(CACHE)/build/linuxnet-keepalive-*.tar.gz | grep -E '^(tests|molecule|\.venv|\.cache)/' && { echo "build_ignore let test files into the artifact"; exit 1; } || true
	@tar -tzf $(CACHE)/build/linuxnet-keepalive-*.tar.gz | grep -x 'CHANGELOG.rst' >/dev/null || { echo "the artifact carries no release notes (CHANGELOG.rst)"; exit 1; }
	cd $(CACHE)/build && GALAXY_IMPORTER_CONFIG=$(ROOT)/tests/rig/galaxy-importer.cfg python -m galaxy_importer.main $(CACHE)/build/linuxnet-keepalive-*.tar.gz \
	  | tee $(CACHE)/build/importer.log | grep -E 'WARNING|ERROR|completed' ; \
	  grep -q 'Importer processing completed successfully' $(CACHE)/build/importer.log && ! grep -qE 'WARNING|ERROR' $(CACHE)/build/importer.log
	@for m in $$(ls plugins/modules/*.py 2>/dev/null | xargs -n1 basename | sed 's/\.py$$//'); do \
	  ANSIBLE_COLLECTIONS_PATH=$(CACHE)/build/installed ansible-doc linuxnet.keepalive.$$m >/dev/null || exit 1; \
	  echo "ansible-doc linuxnet.keepalive.$$m: ok"; \
	done
	@for f in $$(ls plugins/filter/*.yml 2>/dev/null | xargs -n1 basename | sed 's/\.yml$$//'); do \
	  ANSIBLE_COLLECTIONS_PATH=$(CACHE)/build/installed ansible-doc -t filter linuxnet.keepalive.$$f >/dev/null || exit 1; \
	  echo "ansible-doc -t filter linuxnet.keepalive.$$f: ok"; \
	done

# The scenarios share nothing (their own containers, their own Molecule state), so they run side by side.
molecule: setup images
	tests/rig/stages.sh $(subst $(eval) ,+,$(addprefix molecule-,$(SCENARIOS)))

$(addprefix molecule-,$(SCENARIOS)): molecule-%: setup images
	molecule test -s $*

# Every ansible-core minor the collection claims, and every target Python (tests/compat/compat.py).
compat: setup images build compat-stage

# Each claimed ansible-core version in its virtual environment (make test does it while the images are built).
compat-venvs:
	python tests/compat/compat.py --prepare

# The compatibility stage itself, on the collection make build built (make test runs build before it).
compat-stage:
	python tests/compat/compat.py --tarball $$(ls $(CACHE)/build/linuxnet-keepalive-*.tar.gz)

perf: setup images
	python tests/perf/bench_facts.py
	python tests/perf/bench_shim.py
	python tests/perf/bench_compliance.py
	python tests/perf/bench_namespaces.py
	python tests/perf/bench_cgroup.py

# The benchmark at a small size: proves the script and every method it compares still run.
perf-smoke: setup
	python tests/perf/bench_facts.py --connections 2000 --repeat 1
	python tests/perf/bench_shim.py --calls 2000 --rounds 1
	python tests/perf/bench_namespaces.py --namespaces 4 --connections 400 --repeat 1
	python tests/perf/bench_cgroup.py --connections 2000 --rounds 1

demo: setup images
	tests/rig/demo.sh

# The fast loop, for the edit-test cycle.
check: lint sanity units integration
	@echo "make check: lint, sanity, units and integration passed"

# Every check. The images are built while the static checks run; the scenarios and the benchmark smoke
# run side by side. stages.sh prints a table of stage times at the end.
test:
	tests/rig/stages.sh setup images+static+compat-venvs integration \
	  $(subst $(eval) ,+,$(addprefix molecule-,$(SCENARIOS)) perf-smoke compat-stage)
	@echo "make test: every check passed"

static: lint sanity units build

clean:
	-molecule destroy --all 2>/dev/null
	rm -rf $(VENV) $(CACHE)
