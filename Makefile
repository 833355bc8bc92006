# vmimage.azure: build, test and demo. `make help` lists the targets.
#
# Everything is built inside the checkout: .venv (Python), tests/azurite/node_modules (Azurite),
# .build (collection layout, sanity copy, ansible-test's home, demo files). System packages are
# installed with apt-get only when a tool is missing (needs root or sudo).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-print-directory

PYTHON ?= python3
# pytest-xdist workers; CI has 2 cores.
JOBS ?= 2
PYTEST_ARGS ?=
BENCH_ARGS ?= --quick
# Upper bound for each stage of `make test`, in seconds.
STAGE_TIMEOUT ?= 2400
# Extra arguments for ansible-test sanity, e.g. SANITY_ARGS='--test pylint'.
SANITY_ARGS ?=

VENV := $(CURDIR)/.venv
VPY := $(VENV)/bin/python
BUILD := $(CURDIR)/.build
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/vmimage/azure
SANITY_TREE := $(BUILD)/sanity/ansible_collections/vmimage/azure
# ansible-test keeps its sanity virtualenvs and the pip bootstrap script under ~/.ansible/test;
# it runs with HOME here so that nothing outside the checkout is touched.
SANITY_HOME := $(BUILD)/home
AZURITE_DIR := tests/azurite
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := $(AZURITE_DIR)/node_modules/.installed
# What the package managers print (apt-get, pip), shown only when they fail.
LOGS := $(BUILD)/logs

# Environment for everything that imports or runs the collection (pytest, ansible-playbook).
RUN_ENV := env PATH="$(VENV)/bin:$$PATH" PYTHONPATH="$(COLLECTIONS)" \
	ANSIBLE_COLLECTIONS_PATH="$(COLLECTIONS)" PYTHON="$(VPY)" \
	ANSIBLE_NOCOWS=1 ANSIBLE_RETRY_FILES_ENABLED=0

# Sanity tests for day-to-day work (`make test-fast`); `make sanity` runs them all.
SANITY_FAST := --test compile --test pep8 --test validate-modules --test yamllint --test ansible-doc

# ansible-test wants en_US.UTF-8 and, in each of its processes, warns when it falls back to C.UTF-8
# (a minimal Debian has no en_US locale, and installing one would change the machine's locale setup).
# No sanity test depends on the locale: without en_US.UTF-8 the Makefile says so once and drops the
# warning from ansible-test's output.
SANITY_LOCALE := $(shell locale -a 2>/dev/null | grep -qix 'en_US.utf-\?8' && echo en_US.UTF-8 || echo C.UTF-8)
ifeq ($(SANITY_LOCALE),C.UTF-8)
SANITY_LOCALE_NOTE := echo 'sanity: en_US.UTF-8 is not installed here, so ansible-test runs with C.UTF-8 (no sanity test depends on the locale); its warning about that is left out below';
SANITY_FILTER := 2>&1 | sed -u -e '/Using locale "C.UTF-8" instead of "en_US.UTF-8"/d' -e '/^WARNING: Reviewing previous 1 warning(s):$$/d'
endif

# Older ansible-core releases meta/runtime.yml claims: `make compat` runs the unit tests, the
# smoke test (tests/integration/test_smoke.py) and the prepare_linux chroot test under each, in its own venv under .build/compat.
# The newest (tests/requirements.txt) is the main venv's and runs every stage.
COMPAT_CORES ?= 2.17 2.18
COMPAT_DIR := $(BUILD)/compat

# Sanity tests that need more than PyPI even with scripts/get_pip.py: none so far.
SANITY_SKIP :=
# Files no sanity test can read here. validate-modules reads a PowerShell module's argument spec by
# running it with pwsh, and no PowerShell can be installed from this project's registries (PyPI, Debian,
# npm); pslint skips itself without pwsh. The module's documentation (win_sysprep.py) is still validated,
# and tests/unit/plugins/test_powershell_parse.py parses every PowerShell file with tree-sitter-powershell.
SANITY_EXCLUDE := plugins/modules/win_sysprep.ps1

.PHONY: help deps sysdeps venv node layout test test-fast sanity sanity-fast sanity-tree lint \
	changelog-lint docs-lint docs docs-check unit integration molecule compat bench ee demo demo-vhd clean distclean

help:
	@echo 'make test        every test, what CI runs (.ci/run sets CI=true): sanity, linters, docs site, unit, integration, Molecule, compat'
	@echo 'make test-fast   unit tests and a quick sanity subset'
	@echo 'make demo        the main job: a Debian 12 VM built, booted, prepared, generalized, uploaded to Azurite, booted again'
	@echo 'make demo-vhd    only the VHD steps: a generated disk converted to a fixed VHD and uploaded to Azurite'
	@echo 'make sanity | lint | unit | integration | molecule | compat | bench'
	@echo 'make docs        the HTML documentation site (antsibull-docs) in .build/docs; make docs-check also tests it in headless Chromium'
	@echo 'make molecule    Molecule scenarios of the roles: prepare_linux on a qemu Debian 12 VM and on a chroot tree (root)'
	@echo 'make compat      unit tests, a smoke test and the prepare_linux chroot test under each older ansible-core ($(COMPAT_CORES))'
	@echo 'make ee          the execution environment build context in .build/ee/context (ansible-builder create; no image)'
	@echo 'make deps        system packages (apt-get, only if missing), .venv, Azurite, .build layout'
	@echo 'make clean       remove .build and test output; make distclean also removes .venv and node_modules'

# ---------------------------------------------------------------------------------------------
# Dependencies

deps: sysdeps venv node layout

sysdeps:
	@missing=(); \
	command -v qemu-img >/dev/null || missing+=(qemu-utils); \
	command -v sfdisk >/dev/null || [ -x /usr/sbin/sfdisk ] || [ -x /sbin/sfdisk ] || missing+=(fdisk); \
	command -v node >/dev/null || missing+=(nodejs); \
	command -v npm >/dev/null || missing+=(npm); \
	command -v git >/dev/null || missing+=(git); \
	command -v prlimit >/dev/null || missing+=(util-linux); \
	command -v shellcheck >/dev/null || missing+=(shellcheck); \
	command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap); \
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86); \
	command -v debugfs >/dev/null || [ -x /usr/sbin/debugfs ] || [ -x /sbin/debugfs ] || missing+=(e2fsprogs); \
	command -v ssh-keygen >/dev/null || missing+=(openssh-client); \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv); \
	scripts/apt_install.sh $(LOGS)/apt.log "$${missing[@]}"

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt tests/requirements.txt | sysdeps
	@echo "python: installing requirements.txt and tests/requirements.txt into .venv (about a minute the first time; output in $(LOGS)/pip.log)"
	@mkdir -p $(LOGS); start=$$(date +%s); \
	{ [ -x $(VPY) ] || $(PYTHON) -m venv $(VENV); } >$(LOGS)/pip.log 2>&1 && \
	$(VPY) -m pip install --disable-pip-version-check --upgrade pip >>$(LOGS)/pip.log 2>&1 && \
	$(VPY) -m pip install --disable-pip-version-check -r requirements.txt -r tests/requirements.txt >>$(LOGS)/pip.log 2>&1 || \
		{ echo "pip failed; its output, from $(LOGS)/pip.log:" >&2; cat $(LOGS)/pip.log >&2; exit 1; }; \
	echo "python: done in $$(( $$(date +%s) - start )) s"
	@touch $@

node: $(NODE_STAMP)

$(NODE_STAMP): $(AZURITE_DIR)/package.json $(AZURITE_DIR)/package-lock.json | sysdeps
	@echo "node: installing Azurite with npm ci into $(AZURITE_DIR)/node_modules (about 15 s)"
	@start=$$(date +%s); npm ci --prefix $(AZURITE_DIR) --no-audit --no-fund --loglevel=error --silent; \
	echo "node: done in $$(( $$(date +%s) - start )) s"
	@touch $@

# pytest and ansible-playbook import the collection as ansible_collections.vmimage.azure.
layout:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn ../../../.. $(COLLECTION_LINK)

# ---------------------------------------------------------------------------------------------
# Tests

# Runs every stage even when one fails, prints the time of each, fails if any stage failed.
# Each test stage is killed after STAGE_TIMEOUT seconds so that a hung test cannot eat the CI
# budget (not deps: apt-get or sudo may need the terminal).
test:
	@failed=(); summary=(); \
	for stage in deps sanity lint docs-check unit integration molecule compat; do \
		echo "=== $$stage"; start=$$(date +%s); \
		limit=(timeout --kill-after=30 $(STAGE_TIMEOUT)); [ "$$stage" != deps ] || limit=(); \
		if "$${limit[@]}" $(MAKE) $$stage; then result=ok; else result=FAILED; failed+=($$stage); fi; \
		summary+=("$$(printf '%-12s %-7s %5ss' $$stage $$result $$(( $$(date +%s) - start )))"); \
		[ "$$stage" != deps ] || [ $${#failed[@]} -eq 0 ] || break; \
	done; \
	echo '=== summary'; printf '%s\n' "$${summary[@]}"; \
	if [ $${#failed[@]} -gt 0 ]; then echo "failed: $${failed[*]}"; exit 1; fi

test-fast: deps
	$(MAKE) unit
	$(MAKE) sanity-fast

# ansible-test refuses symlinked collection trees: give it a copy of the working tree.
sanity-tree: venv
	@$(VPY) scripts/stage_collection.py $(CURDIR) $(SANITY_TREE)
	@# ansible-test would download get-pip.py; seed its cache with our stand-in (see scripts/get_pip.py).
	@pip_version=$$($(VPY) -c 'import sys, types; from ansible_test._internal.python_requirements import get_venv_packages as g; \
		print(g(types.SimpleNamespace(version="%d.%d" % sys.version_info[:2]))["pip"])'); \
	mkdir -p $(SANITY_HOME)/.ansible/test/cache; \
	cp scripts/get_pip.py $(SANITY_HOME)/.ansible/test/cache/get_pip_$${pip_version//./_}.py

define run_sanity
	@$(SANITY_LOCALE_NOTE) true
	cd $(SANITY_TREE) && env XDG_CONFIG_HOME="$${XDG_CONFIG_HOME:-$$HOME/.config}" \
		XDG_CACHE_HOME="$${XDG_CACHE_HOME:-$$HOME/.cache}" HOME="$(SANITY_HOME)" \
		VMIMAGE_BOOTSTRAP_PYTHON="$(VPY)" LC_ALL=$(SANITY_LOCALE) \
		$(VENV)/bin/ansible-test sanity --local --color no \
		--python "$$($(VPY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
		$(foreach t,$(SANITY_SKIP),--skip-test $(t)) $(foreach f,$(SANITY_EXCLUDE),--exclude $(f)) $(1) $(SANITY_ARGS) $(SANITY_FILTER)
endef

sanity: sanity-tree
	$(call run_sanity,)

sanity-fast: sanity-tree
	$(call run_sanity,$(SANITY_FAST))

# NO_COLOR unless on a terminal: ansible-lint colours its output even into CI logs.
lint: venv changelog-lint docs-lint
	[ -t 1 ] || export NO_COLOR=1; $(RUN_ENV) $(VENV)/bin/ansible-lint --profile production

changelog-lint: venv
	$(VENV)/bin/antsibull-changelog lint

# The plugins' and roles' documentation as docs.ansible.com would build it: markup, links to other
# plugins and options (O(), RV(), M()...), the extra docs in docs/docsite. Runs on the collection as
# Ansible finds it (.build/collections). About 3 minutes: checking the references to other collections
# (the migration guide names azure.azcollection's options) loads the docs of every installed collection.
docs-lint: venv layout
	@echo 'docs lint: antsibull-docs lint-collection-docs (about 3 minutes)'
	cd $(COLLECTION_LINK) && $(RUN_ENV) $(VENV)/bin/antsibull-docs lint-collection-docs --plugin-docs \
		--validate-collection-refs all --disallow-unknown-collection-refs --check-extra-docs-refs .

# pytest exits 5 when it collects nothing: that is a failure here too, with a clear message.
define run_pytest
	$(RUN_ENV) $(VPY) -m pytest $(1) -n $(JOBS) --junitxml=$(BUILD)/junit/$(notdir $(1)).xml $(PYTEST_ARGS) || { rc=$$?; \
		[ $$rc -ne 5 ] || echo "pytest ran no tests in $(1) (exit 5): failing" >&2; exit $$rc; }
endef

unit: venv layout
	@echo "unit tests: about 40 s on 2 cores"
	$(call run_pytest,tests/unit)

integration: deps
	@echo "integration tests: about 20 minutes on 2 cores (Azurite, the ARM fake, ansible-playbook runs, qemu VMs); the first file takes a minute or two"
	$(call run_pytest,tests/integration)

# The roles' Molecule scenarios (roles/<role>/molecule/<scenario>), each `molecule test`: prepare_linux's
# default (a qemu Debian 12 VM over SSH, about 10 minutes under TCG) and chroot (a Debian 12 tree through
# community.general.chroot, under 2 minutes). They need root (debootstrap, loop devices, mount, chroot):
# without it they are skipped, which fails under CI=true like a skipped test. Each runs in a private mount
# namespace (the chroot scenario's binds of /proc, /sys and /dev end with it), with its working files
# under .build/molecule. MOLECULE_SCENARIOS='prepare_linux:chroot' runs one.
MOLECULE_SCENARIOS ?= prepare_linux:default prepare_linux:chroot

molecule: deps layout
	@if [ "$$(id -u)" -ne 0 ]; then \
		echo "molecule: skipped, the scenarios need root (debootstrap, loop devices, mount, chroot)" >&2; \
		case "$${CI:-}" in 1|true|yes) [ -n "$${VMIMAGE_ALLOW_SKIPS:-}" ] || { echo 'molecule: skipped under CI=true: failing' >&2; exit 1; };; esac; \
		exit 0; \
	fi; \
	failed=(); for item in $(MOLECULE_SCENARIOS); do \
		role=$${item%%:*}; scenario=$${item#*:}; start=$$(date +%s); \
		echo "=== molecule: $$role/$$scenario"; \
		if (cd roles/$$role && $(RUN_ENV) NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
			MOLECULE_EPHEMERAL_DIRECTORY=$(BUILD)/molecule/$$role-$$scenario \
			unshare --mount --propagation private $(VENV)/bin/molecule test -s $$scenario); then \
			echo "=== molecule: $$role/$$scenario passed in $$(( $$(date +%s) - start )) s"; \
		else failed+=($$role/$$scenario); fi; \
	done; \
	if [ $${#failed[@]} -gt 0 ]; then echo "molecule: failed: $${failed[*]}" >&2; exit 1; fi

# One venv per release (reused while the requirement files are unchanged); VMIMAGE_EXPECT_CORE
# makes the smoke test check that ansible-playbook really is that release. The prepare_linux chroot test
# takes community.general (its chroot connection) and ansible.posix from the main venv's collections.
compat: deps
	@failed=(); for core in $(COMPAT_CORES); do \
		venv=$(COMPAT_DIR)/core-$$core; next=$${core%.*}.$$(( $${core#*.} + 1 )); \
		stamp=$$venv/.installed-$$(cat requirements.txt tests/requirements-compat.txt | sha256sum | cut -c1-12); \
		if [ ! -e $$stamp ]; then \
			echo "=== compat: installing ansible-core $$core into $$venv (about 30 s)"; \
			rm -rf $$venv; $(PYTHON) -m venv $$venv; \
			$$venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip; \
			$$venv/bin/python -m pip install --quiet --disable-pip-version-check \
				"ansible-core>=$$core,<$$next" -r requirements.txt -r tests/requirements-compat.txt; \
			touch $$stamp; \
		fi; \
		echo "=== compat: ansible-core $$($$venv/bin/python -c 'import ansible; print(ansible.__version__)'): unit tests, smoke test, prepare_linux in a chroot"; \
		env PATH="$$venv/bin:$$PATH" PYTHONPATH="$(COLLECTIONS)" ANSIBLE_COLLECTIONS_PATH="$(COLLECTIONS):$$($(VPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
			PYTHON="$$venv/bin/python" ANSIBLE_NOCOWS=1 ANSIBLE_RETRY_FILES_ENABLED=0 VMIMAGE_EXPECT_CORE=$$core \
			$$venv/bin/python -m pytest -p no:cacheprovider tests/unit tests/integration/test_smoke.py \
			tests/integration/test_prepare_linux_chroot.py -q -n $(JOBS) \
			--ignore=tests/unit/roles --ignore=tests/unit/test_execution_environment.py `# need the main venv's collections, ansible-lint, ansible-builder` \
			--junitxml=$(BUILD)/junit/compat-$$core.xml $(PYTEST_ARGS) || failed+=($$core); \
	done; \
	if [ $${#failed[@]} -gt 0 ]; then echo "compat: failed under ansible-core $${failed[*]}" >&2; exit 1; fi

bench: deps
	$(RUN_ENV) $(VPY) benchmarks/bench_vhd.py $(BENCH_ARGS)
	@# bench_upload.py starts its own in-memory Azurite.
	$(RUN_ENV) $(VPY) benchmarks/bench_upload.py $(BENCH_ARGS)
	@# bench_arm.py starts its own ARM fake.
	$(RUN_ENV) $(VPY) benchmarks/bench_arm.py $(BENCH_ARGS)

# The execution environment's build context (meta/execution-environment.yml, with the collection's
# tarball built now); build the image from it with podman or docker, or `ansible-builder build`.
ee: venv
	@$(VPY) scripts/ee_context.py $(BUILD)/ee/context >/dev/null
	@echo "build context in $(BUILD)/ee/context; build the image with:"
	@echo "  podman build -f $(BUILD)/ee/context/Containerfile -t vmimage-azure-ee $(BUILD)/ee/context"

# ---------------------------------------------------------------------------------------------
# Documentation: the collection's HTML site (antsibull-docs, as docs.ansible.com builds it) in
# .build/docs, then docs-check opens its vhd_upload page in headless Chromium (Debian's chromium,
# installed when missing) and checks what it rendered; the screenshot is left in .build/docs.

docs: venv layout
	@$(RUN_ENV) scripts/build_docs.sh

docs-check: docs
	@command -v chromium >/dev/null || scripts/apt_install.sh $(LOGS)/apt-chromium.log chromium
	$(call run_pytest,tests/docs)

# ---------------------------------------------------------------------------------------------
# Demo: the main job (playbooks/build_local.yml): a Debian 12 VM built with debootstrap, booted with
# qemu, prepared, generalized, converted, uploaded to a local Azurite, downloaded and booted again.
# demo-vhd: only the VHD steps on a generated disk (no root, no qemu; seconds).

demo: deps
	@rm -rf $(BUILD)/demo/azurite
	$(RUN_ENV) scripts/with_azurite.sh $(BUILD)/demo/azurite \
		ansible-playbook -i playbooks/inventory/localhost.yml playbooks/build_local.yml

demo-vhd: deps
	@rm -rf $(BUILD)/demo/azurite
	$(RUN_ENV) scripts/with_azurite.sh $(BUILD)/demo/azurite \
		ansible-playbook -i playbooks/inventory/localhost.yml playbooks/demo.yml -e demo_workdir=$(BUILD)/demo

# ---------------------------------------------------------------------------------------------

clean:
	rm -rf $(BUILD) tests/output .pytest_cache
	find . -name __pycache__ -type d -not -path './.venv/*' -not -path './.git/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(AZURITE_DIR)/node_modules
