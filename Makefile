# One Makefile for developers and CI. `make help` lists the targets.
PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
HOST     ?= 127.0.0.1
PORT     ?= 8080
PACKAGES ?= ./packages
PYTEST_ARGS ?=
ARGS        ?=
BENCH_ARGS  ?=

# `make install` (as root). DESTDIR stages the tree for a package: the venv's scripts and
# bytecode name the final paths (PREFIX), so the staged tree works once copied into place.
DESTDIR  ?=
PREFIX   ?= /usr
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
APP_VENV := $(PREFIX)/share/venv/dynopypi
NGINX_SITE_DIR ?= $(SYSCONFDIR)/nginx/conf.d
SERVICE_USER ?= dynopypi
# The interpreter the service's venv is made from: the system's, not whichever python3 is
# first on PATH (one under /root or /home is hidden from the service by ProtectHome=yes, one
# under /tmp by PrivateTmp=yes). Another one: INSTALL_PYTHON=/opt/python3.12/bin/python3.
INSTALL_PYTHON ?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,python3)

.DEFAULT_GOAL := help
.PHONY: help venv venv-run run test unit lint format bench bench-migrate bench-s3 clean install \
	publish-local container-test ansible-test ansible-target ansible-target-stop docs man

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# Two sentinels, each redone only when pyproject.toml changes: `make run` needs only the
# server (.installed-run: dynopypi and its dependencies, and the venv's own pip for the
# quickstart's `pip install`); the tests, lint and the benchmark need the test tools too
# (.installed: pytest, mypy, ruff, twine, uv, boto3, SeaweedFS, ...: ~500 MB more).
$(BIN)/.installed-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(BIN)/.installed: $(BIN)/.installed-run
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/.installed ## create the virtualenv with dynopypi and the test tools (twine, uv, boto3, weed...)

venv-run: $(BIN)/.installed-run ## create the virtualenv with dynopypi only (what make run uses; e.g. for dynopypi passwd first)

run: $(BIN)/.installed-run ## serve ./packages on http://127.0.0.1:8080/ (PACKAGES, HOST, PORT, ARGS); installs only the server
	mkdir -p $(PACKAGES)
	$(BIN)/dynopypi run -i $(HOST) -p $(PORT) $(ARGS) $(PACKAGES)

lint: $(BIN)/.installed ## ruff (lint and format check), mypy --strict, the import layers (lint-imports)
	$(BIN)/ruff check src tests bench docs
	$(BIN)/ruff format --check src tests bench docs
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(BIN)/.installed ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench docs
	$(BIN)/ruff format src tests bench docs

test: lint ## lint, then every test (unit and end-to-end with pip, uv, twine, nginx)
	$(BIN)/pytest $(PYTEST_ARGS)

# No lint first, and nothing that starts a process (markers from tests/conftest.py); with
# DYNOPYPI_TESTS_UNIT=1 every test helper that would start one (a server, nginx, SeaweedFS,
# pip/uv/twine, podman) raises instead, so a test missing its marker fails here.
unit: $(BIN)/.installed ## pure and in-process tests only: no server, nginx or SeaweedFS (< 90 s)
	DYNOPYPI_TESTS_UNIT=1 $(BIN)/pytest -m "not process and not slow" $(PYTEST_ARGS)

# The documentation (docs/): Sphinx + MyST, strict (-W: every warning fails, -n: every
# reference must resolve, -E: every page re-read). The man page is the generated command-line
# reference (docs/reference.md), built from the same parser. Nothing is fetched from the
# network: internal links and anchors are checked by the build itself.
DOCS_OUT ?= build/docs
SPHINX   := $(BIN)/sphinx-build -E -q -W --keep-going -n
MAN_PAGE := $(DOCS_OUT)/man/dynopypi.1
$(BIN)/.docs-installed: pyproject.toml $(BIN)/.installed-run
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $@

docs: $(BIN)/.docs-installed ## build the documentation site strictly into build/docs/html, and the man page
	$(SPHINX) -b html docs $(DOCS_OUT)/html
	$(SPHINX) -b man docs $(DOCS_OUT)/man
	@echo "docs: $(DOCS_OUT)/html/index.html, man page: $(MAN_PAGE)"

man: $(BIN)/.docs-installed ## build the dynopypi(1) man page into build/docs/man
	$(SPHINX) -b man docs $(DOCS_OUT)/man

bench: $(BIN)/.installed ## benchmark against pypiserver on a generated corpus (BENCH_ARGS)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-migrate: $(BIN)/.installed ## import throughput of a 6,000-file corpus from a local dynopypi, rerun, compare (BENCH_ARGS)
	$(BIN)/python bench/migrate.py $(BENCH_ARGS)

bench-s3: $(BIN)/.installed ## benchmark the S3 bucket (a local SeaweedFS) against the directory (BENCH_ARGS)
	$(BIN)/python bench/s3.py $(BENCH_ARGS)

install: man ## install system-wide: user, directories, venv (from /usr/bin/python3: INSTALL_PYTHON), systemd unit, nginx site, man page (DESTDIR, PREFIX)
	@set -e; root="$(DESTDIR)"; \
	if [ -z "$$root" ] && ! id -u $(SERVICE_USER) >/dev/null 2>&1; then \
		useradd --system --user-group --no-create-home --home-dir $(LOCALSTATEDIR)/lib/dynopypi \
			--shell /usr/sbin/nologin $(SERVICE_USER); \
	fi
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/dynopypi
	install -d -m 0755 $(DESTDIR)$(LOCALSTATEDIR)/lib/dynopypi
	install -d -m 0755 $(DESTDIR)$(LOCALSTATEDIR)/lib/dynopypi/packages
	install -d -m 0711 $(DESTDIR)$(LOCALSTATEDIR)/cache/dynopypi
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/systemd/system $(DESTDIR)$(NGINX_SITE_DIR)
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/dynopypi
	@$(INSTALL_PYTHON) -c "$$CHECK_INSTALL_PYTHON" $(if $(DESTDIR),,$(SERVICE_USER))
	rm -rf $(DESTDIR)$(APP_VENV)
	$(INSTALL_PYTHON) -m venv $(DESTDIR)$(APP_VENV)
	$(DESTDIR)$(APP_VENV)/bin/python -m pip install --quiet --no-compile .
	@# DESTDIR only stages the tree (for a package): what is in it must name the final paths
	@set -e; if [ -n "$(DESTDIR)" ]; then \
		grep -rlIZF -- '$(DESTDIR)$(APP_VENV)' $(DESTDIR)$(APP_VENV)/bin $(DESTDIR)$(APP_VENV)/pyvenv.cfg \
			| xargs -0 -r sed -i -e 's#$(DESTDIR)$(APP_VENV)#$(APP_VENV)#g'; \
	fi
	$(DESTDIR)$(APP_VENV)/bin/python -m compileall -q -f -j 0 $(if $(DESTDIR),-s $(DESTDIR) -p /) \
		$(DESTDIR)$(APP_VENV)/lib
	sed -e 's#/usr/share/venv/dynopypi#$(APP_VENV)#g' -e 's#/etc/dynopypi#$(SYSCONFDIR)/dynopypi#g' \
		-e 's#/var/lib/dynopypi#$(LOCALSTATEDIR)/lib/dynopypi#g' systemd/dynopypi.service \
		> $(DESTDIR)$(SYSCONFDIR)/systemd/system/dynopypi.service
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/systemd/system/dynopypi.service
	@# settings and accounts are the operator's: never overwritten
	test -e $(DESTDIR)$(SYSCONFDIR)/dynopypi/dynopypi.toml || \
		install -m 0640 systemd/dynopypi.toml $(DESTDIR)$(SYSCONFDIR)/dynopypi/dynopypi.toml
	test -e $(DESTDIR)$(SYSCONFDIR)/dynopypi/htpasswd || \
		install -m 0640 /dev/null $(DESTDIR)$(SYSCONFDIR)/dynopypi/htpasswd
	test -e $(DESTDIR)$(NGINX_SITE_DIR)/dynopypi.conf || \
		install -m 0644 nginx/dynopypi.conf $(DESTDIR)$(NGINX_SITE_DIR)/dynopypi.conf
	install -m 0644 nginx/dynopypi.conf nginx/dynopypi-tls.conf nginx/dynopypi-replicas.conf \
		$(DESTDIR)$(PREFIX)/share/dynopypi/
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 $(MAN_PAGE) $(DESTDIR)$(PREFIX)/share/man/man1/dynopypi.1
	@set -e; if [ -z "$(DESTDIR)" ]; then \
		chown root:$(SERVICE_USER) $(SYSCONFDIR)/dynopypi/dynopypi.toml $(SYSCONFDIR)/dynopypi/htpasswd; \
		chown $(SERVICE_USER):$(SERVICE_USER) $(LOCALSTATEDIR)/lib/dynopypi $(LOCALSTATEDIR)/lib/dynopypi/packages \
			$(LOCALSTATEDIR)/cache/dynopypi; \
		if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
		echo "installed; add accounts with: $(APP_VENV)/bin/dynopypi passwd $(SYSCONFDIR)/dynopypi/htpasswd USER"; \
		echo "then: systemctl enable --now dynopypi && nginx -t && systemctl reload nginx"; \
	fi

# built into a folder of its own: dist/ may hold the user's other builds, never deleted
PUBLISH_DIR := build/publish-local
# make install: refuse an interpreter the service cannot run (see INSTALL_PYTHON), saying so
define CHECK_INSTALL_PYTHON
import os, subprocess, sys
hidden = ("/root", "/home", "/run/user", "/tmp", "/var/tmp")  # ProtectHome=yes, PrivateTmp=yes
used = {sys.executable, os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix)}
bad = sorted(p for p in used if any(p == h or p.startswith(h + "/") for h in hidden))
if sys.version_info < (3, 10):
    sys.exit(f"make install: {sys.executable} is Python {sys.version.split()[0]}; dynopypi needs 3.10 or later: give one with INSTALL_PYTHON=/path/to/python3")
if bad:
    sys.exit(f"make install: {sys.executable} lives in {bad[0]}, which the service cannot see (ProtectHome=yes, PrivateTmp=yes in dynopypi.service); use the system python3 (the default, /usr/bin/python3) or give one outside /root, /home and /tmp with INSTALL_PYTHON=/path/to/python3")
if len(sys.argv) > 1 and os.geteuid() == 0 and subprocess.run(["runuser", "-u", sys.argv[1], "--", sys.executable, "-c", ""]).returncode:
    sys.exit(f"make install: the service user {sys.argv[1]} cannot run {sys.executable}; give one it can run with INSTALL_PYTHON=/path/to/python3")
print(f"make install: the service runs on {sys.executable} (Python {sys.version.split()[0]})")
endef
export CHECK_INSTALL_PYTHON

publish-local: $(BIN)/.installed ## build dynopypi (into build/publish-local) and upload it to a running index (HOST, PORT, TWINE_USERNAME, PS_LOCAL_PASSWD)
	rm -rf $(PUBLISH_DIR)
	$(BIN)/python -m build --outdir $(PUBLISH_DIR) .
	@# the password: TWINE_PASSWORD, else PS_LOCAL_PASSWD (the runbook's name for it)
	TWINE_PASSWORD="$${TWINE_PASSWORD:-$${PS_LOCAL_PASSWD:-}}" \
		$(BIN)/twine upload --non-interactive --repository-url http://$(HOST):$(PORT)/ $(PUBLISH_DIR)/*

# Deployment tests: real podman (images from a locally debootstrapped Debian base, made once
# and kept in podman's store), an Ansible run over SSH. Not part of `make test`; CI runs them.
# CONTAINERS_CONF: podman settings this kind of VM needs (runc, cgroupfs, ulimits).
CONTAINERS_CONF ?= $(CURDIR)/deploy/container/containers.conf
$(BIN)/.deploy-installed: pyproject.toml $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,deploy]'
	touch $@

container-test: $(BIN)/.deploy-installed ## build the container image and test it with podman; validate deploy/kubernetes
	CONTAINERS_CONF=$(CONTAINERS_CONF) DYNOPYPI_DEPLOY_TESTS=container \
		$(BIN)/pytest tests/deploy $(PYTEST_ARGS)

ansible-test: $(BIN)/.deploy-installed ## apply deploy/ansible over SSH to a systemd container, twice; ansible-lint
	CONTAINERS_CONF=$(CONTAINERS_CONF) DYNOPYPI_DEPLOY_TESTS=ansible \
		$(BIN)/pytest tests/deploy $(PYTEST_ARGS)

# Try the Ansible role without a spare host: the Ansible test's target container (Debian,
# systemd, sshd) on loopback ports of your choice, and an inventory for it.
TARGET_DIR ?= build/ansible-target
TARGET_SSH_PORT ?= 2222
TARGET_HTTP_PORT ?= 8081
TARGET_HTTPS_PORT ?= 8443
ansible-target: ## start a throwaway host for deploy/ansible (TARGET_SSH_PORT, TARGET_HTTP_PORT, TARGET_HTTPS_PORT)
	CONTAINERS_CONF=$(CONTAINERS_CONF) deploy/ansible/try-target.sh start $(TARGET_DIR) \
		$(TARGET_SSH_PORT) $(TARGET_HTTP_PORT) $(TARGET_HTTPS_PORT)

ansible-target-stop: ## remove the container of make ansible-target
	CONTAINERS_CONF=$(CONTAINERS_CONF) deploy/ansible/try-target.sh stop

clean: ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(PUBLISH_DIR)
