# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation strings of a plugin file (DOCUMENTATION, EXAMPLES, RETURN, a doc fragment's
class attributes), read from its source without importing it."""

from __future__ import annotations

import ast

import yaml


def assigned_text(path, variable, class_name=None):
    """The string assigned to ``variable`` at the top of the file (or in class ``class_name``)."""
    body = ast.parse(path.read_text(encoding='utf-8')).body
    if class_name:
        body = next(node.body for node in body if isinstance(node, ast.ClassDef) and node.name == class_name)
    for node in body:
        if isinstance(node, ast.Assign) and any(getattr(target, 'id', None) == variable for target in node.targets):
            return node.value.value
    raise AssertionError('%s has no %s' % (path, variable))


def assigned_yaml(path, variable, class_name=None):
    """That string, parsed as YAML."""
    return yaml.safe_load(assigned_text(path, variable, class_name))
