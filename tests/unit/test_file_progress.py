# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The suite's per-file progress lines (tests/conftest.py), run in a scratch pytest session."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ('pytester',)

CONFTEST = Path(__file__).resolve().parents[1] / 'conftest.py'


@pytest.fixture
def scratch(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(
        test_alpha='def test_one():\n    pass\n\ndef test_two():\n    assert False\n\ndef test_three():\n    pass\n',
        test_beta='import pytest\n\ndef test_one():\n    pass\n\n@pytest.mark.skip(reason="x")\ndef test_two():\n    pass\n',
    )
    return pytester


def _progress_lines(result):
    return [line for line in result.outlines if re.match(r'^\[\d+/\d+ files', line)]


def test_a_line_per_file_under_xdist(scratch, monkeypatch):
    monkeypatch.delenv('CI', raising=False)
    result = scratch.runpytest_subprocess('-n', '2', '-q', '-p', 'no:cacheprovider')
    lines = _progress_lines(result)
    assert len(lines) == 2, result.outlines
    assert [line.split('] ', 1)[0].split(',')[0] for line in lines] == ['[1/2 files', '[2/2 files']
    by_file = {line.split('] ', 1)[1].split(':')[0]: line for line in lines}
    assert ': 2 passed, 1 failed in ' in by_file['test_alpha.py']
    assert ': 1 passed, 1 skipped in ' in by_file['test_beta.py']
    assert '5 tests in 2 files' in result.stdout.str()
    # Each progress line starts a line of its own, never after the dots.
    assert [line for line in result.outlines if re.search(r'\[\d+/\d+ files', line)] == lines


def test_skips_count_as_failures_under_ci(scratch, monkeypatch):
    monkeypatch.setenv('CI', 'true')
    monkeypatch.delenv('VMIMAGE_ALLOW_SKIPS', raising=False)
    result = scratch.runpytest_subprocess('-n', '2', '-q', '-p', 'no:cacheprovider')
    by_file = {line.split('] ', 1)[1].split(':')[0]: line for line in _progress_lines(result)}
    assert ': 1 passed, 1 failed in ' in by_file['test_beta.py']


def test_quiet_without_xdist_at_default_verbosity(scratch, monkeypatch):
    monkeypatch.delenv('CI', raising=False)
    result = scratch.runpytest_subprocess('-p', 'no:xdist', '-p', 'no:cacheprovider')
    # pytest names each file itself then: no second line per file.
    assert _progress_lines(result) == []
    assert any(line.startswith('test_alpha.py ') for line in result.outlines)
