# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PowerShell parsed with tree-sitter-powershell (no PowerShell runs here): the parser and its syntax errors."""

from __future__ import annotations

import pytest


def new_parser():
    """A tree-sitter parser for PowerShell; the test is skipped (a failure under CI=true) without the packages."""
    ts = pytest.importorskip('tree_sitter', reason='tree-sitter is not installed (tests/requirements.txt)')
    tsp = pytest.importorskip('tree_sitter_powershell',
                              reason='tree-sitter-powershell is not installed (tests/requirements.txt)')
    return ts.Parser(ts.Language(tsp.language()))


def parse(parser, text):
    return parser.parse(text.encode('utf-8') if isinstance(text, str) else text)


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def node_text(node):
    return node.text.decode('utf-8')


def problems(parser, text):
    """Every ERROR or MISSING node, as 'line:column: kind near ...' (1-based)."""
    found = []
    for node in walk(parse(parser, text).root_node):
        if node.is_error or node.is_missing:
            kind = 'missing %s' % node.type if node.is_missing else 'syntax error'
            line, column = node.start_point
            found.append('%d:%d: %s near %r' % (line + 1, column + 1, kind, node_text(node)[:60]))
    return found
