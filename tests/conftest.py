# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Suite-wide hooks. No collection imports here (see tests/integration/conftest.py for why).

A test that skips because a tool is missing (qemu-img, Azurite, ...) is a pass that proved
nothing: under CI (CI=true, as .ci/run runs) every skip is turned into a failure, so a machine
that lacks something the suite needs cannot go green. Set VMIMAGE_ALLOW_SKIPS=1 to allow them.
"""

from __future__ import annotations

import os
import time

import pytest


def _skips_fail():
    return os.environ.get('CI', '').lower() in ('1', 'true', 'yes') and not os.environ.get('VMIMAGE_ALLOW_SKIPS')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, 'wasxfail') and _skips_fail():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = 'failed'
        report.longrepr = 'skipped under CI, where every test must run: %s' % reason


class _FileProgress:
    """A line per test file once all its tests have run: with pytest-xdist the controller prints only
    dots, and a stage of several minutes must show where it is. Registered on the controller only."""

    def __init__(self, terminal):
        self.terminal = terminal
        self.total = {}
        self.done = {}
        self.outcomes = {}
        self.first = {}
        self.start = time.monotonic()

    def _expect(self, nodeids):
        if self.total or not nodeids:  # every xdist worker collects the same tests
            return
        for nodeid in nodeids:
            path = nodeid.split('::', 1)[0]
            self.total[path] = self.total.get(path, 0) + 1
        self.terminal.write_line('%d tests in %d file%s; a line as each file finishes' % (
            len(nodeids), len(self.total), '' if len(self.total) == 1 else 's'))

    def pytest_collection_finish(self, session):
        self._expect([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self._expect(ids)

    def pytest_runtest_logreport(self, report):
        path = report.nodeid.split('::', 1)[0]
        if path not in self.total:
            return
        self.first.setdefault(path, time.monotonic())
        outcomes = self.outcomes.setdefault(path, {})
        if report.failed:
            outcomes[report.nodeid] = 'failed'
        elif report.skipped:
            outcomes.setdefault(report.nodeid, 'skipped')
        if report.when != 'teardown':
            return
        outcomes.setdefault(report.nodeid, 'passed')
        self.done[path] = self.done.get(path, 0) + 1
        if self.done[path] != self.total[path]:
            return
        counts = {}
        for outcome in outcomes.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        now = time.monotonic()
        finished = sum(1 for p, n in self.done.items() if n == self.total[p])
        # write_line starts a new line only after a file name; xdist prints bare dots.
        if getattr(getattr(self.terminal, '_tw', None), 'width_of_current_line', 0):
            self.terminal.write('\n')
        self.terminal.write_line('[%d/%d files, %4d s] %s: %s in %d s' % (
            finished, len(self.total), now - self.start, path,
            ', '.join('%d %s' % (counts[k], k) for k in ('passed', 'failed', 'skipped') if k in counts),
            now - self.first[path]))


@pytest.hookimpl(trylast=True)  # after the terminal reporter is registered
def pytest_configure(config):
    terminal = config.pluginmanager.get_plugin('terminalreporter')
    # Not on xdist workers (their output is not shown), not with -v (it names every test) and not
    # without xdist at the default verbosity (pytest names each file then).
    xdist = getattr(config.option, 'dist', 'no') != 'no'
    if terminal is None or hasattr(config, 'workerinput') or config.option.verbose > 0 \
            or (config.option.verbose == 0 and not xdist):
        return
    config.pluginmanager.register(_FileProgress(terminal), 'vmimage-file-progress')
