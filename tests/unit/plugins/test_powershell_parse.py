# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every PowerShell script of the collection, and the script vm_generalize sends through Run Command,
parses with tree-sitter-powershell with no ERROR or MISSING node.

No PowerShell runs here (there is none for this platform in the package registries we use), so this
is the check that the scripts are PowerShell at all, plus what a parse tree can tell without running
them: Windows PowerShell 5.1 syntax only, every function a script calls and every parameter it passes
to one of its own functions exists, the module file holds only functions. The grammar rejects some
valid PowerShell (a bare-word list such as ``-Function A, B``: quote the names); it accepts nothing
that Windows PowerShell would refuse to parse, as far as these scripts go.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._guest import scripts
from ansible_collections.vmimage.azure.tests.support.powershell import new_parser, node_text, parse, problems, walk

# Skips the whole file without tree-sitter-powershell (a failure under CI=true).
PARSER = new_parser()

ROOT = Path(__file__).resolve().parents[3]
SKIP_DIRS = {'.git', '.build', '.venv', 'node_modules', '__pycache__', '.pytest_cache', 'output', 'collections', 'azurite'}
PSM1 = ROOT / 'plugins' / 'module_utils' / scripts.PSM1_NAME
EXPECTED = {
    'plugins/module_utils/VmimageSysprep.psm1',
    'plugins/module_utils/_VmimageSysprepDecisions.psm1',
    'plugins/modules/win_sysprep.ps1',
}


def _powershell_files():
    found = []
    for root, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            if name.lower().endswith(('.ps1', '.psm1', '.psd1')):
                found.append(Path(root, name).relative_to(ROOT).as_posix())
    return found


FILES = _powershell_files()


@pytest.fixture(scope='module')
def parser():
    return PARSER


def test_the_collection_has_the_powershell_files_we_expect():
    assert EXPECTED <= set(FILES), FILES


@pytest.mark.parametrize('path', FILES)
def test_each_powershell_file_parses(parser, path):
    assert problems(parser, (ROOT / path).read_bytes()) == []


@pytest.mark.parametrize('shutdown', [False, True])
def test_the_run_command_script_parses(parser, shutdown):
    script = '\n'.join(scripts.windows_run_command_script(3600, shutdown=shutdown)) + '\n'
    assert problems(parser, script) == []


@pytest.mark.parametrize('snippet', [
    'Function Get-Broken {\n    param ([string] $Name)\n    if ($Name {\n        $Name\n    }\n}\n',
    "Function Get-Broken {\n    return 'unterminated\n}\n",
    'Function Get-Broken {\n    $x = @{ a = 1\n}\n',
    'Function Get-Broken {\n    $x = $a ? 1 : 2\n}\n',
    'Function Get-Broken {\n    $x = $a ?? 2\n}\n',
    'Function Get-Broken {\n    $x = (1 +\n}\n',
])
def test_a_broken_snippet_is_detected(parser, snippet):
    assert problems(parser, snippet), snippet


def test_a_broken_run_command_script_is_detected(parser):
    # The same check on the real script with one brace lost: it can fail.
    lines = scripts.windows_run_command_script(60)
    index = next(i for i, line in enumerate(lines) if line == '    while ($true) {')
    broken = lines[:index] + ['    while ($true)'] + lines[index + 1:]
    assert problems(parser, '\n'.join(broken) + '\n')


# --- what a parse tree can tell beyond syntax ------------------------------------------------------------

def _functions(tree):
    """name -> the function_statement node, for every function the tree defines."""
    found = {}
    for node in walk(tree.root_node):
        if node.type == 'function_statement':
            name = next(child for child in node.children if child.type == 'function_name')
            found[node_text(name).lower()] = node
    return found


def _parameters(function, mandatory_only=False):
    names = set()
    for node in walk(function):
        if node.type == 'script_parameter':
            attributes = [node_text(n).replace(' ', '').lower() for n in walk(node) if n.type == 'attribute']
            if mandatory_only and not any(a.startswith('[parameter(') and 'mandatory=$true' in a for a in attributes):
                continue
            variable = next(child for child in node.children if child.type == 'variable')
            names.add(node_text(variable)[1:].lower())
    return names


def _splats(tree):
    """variable name -> the keys of the hashtable literal assigned to it (for @name splatting)."""
    found = {}
    for node in walk(tree.root_node):
        if node.type == 'assignment_expression':
            target = node_text(node.children[0]).strip()
            tables = [n for n in walk(node.children[-1]) if n.type == 'hash_literal_expression']
            if target.startswith('$') and tables:
                keys = [n for n in walk(tables[0]) if n.type == 'key_expression' and n.parent.parent.parent == tables[0]]
                found[target[1:].lower()] = [node_text(k).lower() for k in keys]
    return found


def _commands(tree):
    """(command name, [parameter names, splatted ones included], node) for every command invocation."""
    splats = _splats(tree)
    for node in walk(tree.root_node):
        if node.type == 'command':
            name = next((child for child in node.children if child.type == 'command_name'), None)
            if name is None:
                continue
            elements = [n for n in walk(node) if n.parent is not None and n.parent.parent == node]
            params = [node_text(n)[1:].split(':')[0].lower() for n in elements if n.type == 'command_parameter']
            for splat in (n for n in walk(node) if n.type == 'variable' and node_text(n).startswith('@')):
                params.extend(splats[node_text(splat)[1:].lower()])
            yield node_text(name), params, node


def _tree(parser, path):
    return parse(parser, (ROOT / path).read_bytes())


@pytest.mark.parametrize('path', sorted(EXPECTED))
def test_no_syntax_newer_than_windows_powershell_5_1(parser, path):
    # The grammar parses PowerShell 7's && and ||; Windows PowerShell 5.1 (what Run Command and WinRM
    # run) does not. ::new() needs 5.0; Windows Server 2012 R2 ships 4.0.
    tree = _tree(parser, path)
    assert not [n for n in walk(tree.root_node) if n.type == 'pipeline_chain_tail'], 'uses && or ||'
    news = [n for n in walk(tree.root_node) if n.type == '::' and n.next_sibling is not None and node_text(n.next_sibling).lower() == 'new']
    assert not news, 'uses ::new()'
    text = (ROOT / path).read_text().lower()
    assert '-ashashtable' not in text and '#requires -version 7' not in text


def test_the_module_util_holds_only_functions_and_its_export_line(parser):
    # The Run Command script drops the export line and must then run nothing before its one call.
    tree = _tree(parser, 'plugins/module_utils/VmimageSysprep.psm1')
    body = [n for n in tree.root_node.children if n.type != 'comment']
    assert [n.type for n in body] == ['statement_list']
    statements = [n for n in body[0].children if n.type != 'comment']
    assert [n.type for n in statements[:-1]] == ['function_statement'] * (len(statements) - 1)
    assert node_text(statements[-1]).startswith('Export-ModuleMember ')


@pytest.mark.parametrize('path', sorted(EXPECTED))
def test_every_vmimage_function_called_exists_and_gets_only_its_parameters(parser, path):
    defined = {}
    for util in ('plugins/module_utils/VmimageSysprep.psm1', 'plugins/module_utils/_VmimageSysprepDecisions.psm1'):
        defined.update(_functions(_tree(parser, util)))
    calls = [(name, params) for name, params, node in _commands(_tree(parser, path)) if '-vmimage' in name.lower()]
    assert calls or path.endswith('Decisions.psm1')
    for name, params in calls:
        assert name.lower() in defined, 'calls %s, which no module_util defines' % name
        unknown = set(params) - _parameters(defined[name.lower()]) - {'erroraction', 'verbose'}
        assert not unknown, '%s gets -%s, which it does not take' % (name, ', -'.join(sorted(unknown)))
        missing = _parameters(defined[name.lower()], mandatory_only=True) - set(params)
        assert not missing, '%s is called without its mandatory -%s' % (name, ', -'.join(sorted(missing)))


def test_the_exports_name_defined_functions(parser):
    for util in ('plugins/module_utils/VmimageSysprep.psm1', 'plugins/module_utils/_VmimageSysprepDecisions.psm1'):
        tree = _tree(parser, util)
        exported = [node for name, params, node in _commands(tree) if name == 'Export-ModuleMember']
        assert len(exported) == 1
        names = {node_text(n).strip("'").lower() for n in walk(exported[0]) if n.type == 'verbatim_string_characters'}
        assert names and names <= set(_functions(tree)), names


def test_the_run_command_call_uses_the_exported_functions(parser):
    line = scripts.windows_run_command_script(60)[-1]
    called = {name.lower() for name, params, node in _commands(parse(parser, line))}
    assert called == {'convertto-vmimageresultline', 'invoke-vmimagesysprep'}
    assert {p for name, params, node in _commands(parse(parser, line)) for p in params} == {'result', 'decisionsjson', 'timeoutseconds'}


@pytest.mark.parametrize('path', sorted(EXPECTED))
def test_a_mandatory_list_parameter_allows_an_empty_list(parser, path):
    # PowerShell refuses to bind an empty collection to a Mandatory parameter unless it says
    # [AllowEmptyCollection()]: the lists of pre-checks and steps start empty.
    for node in walk(_tree(parser, path).root_node):
        if node.type != 'script_parameter':
            continue
        attributes = [node_text(n).replace(' ', '').lower() for n in walk(node) if n.type == 'attribute']
        mandatory = any(a.startswith('[parameter(') and 'mandatory=$true' in a for a in attributes)
        is_list = any(a.endswith('[]]') or a in ('[system.collections.arraylist]', '[array]') for a in attributes)
        if mandatory and is_list:
            assert '[allowemptycollection()]' in attributes, '%s:%d' % (path, node.start_point[0] + 1)


AUTOMATIC = {'_', 'psitem', 'null', 'true', 'false', 'args', 'psboundparameters', 'erroractionpreference', 'lastexitcode'}


def _variables(scope):
    """(parameters, assigned, read) variable names of a function (or a whole script), lower case."""
    params, assigned, read = set(), set(), set()
    for node in walk(scope):
        if node.type == 'script_parameter':
            params.add(node_text(next(c for c in node.children if c.type == 'variable'))[1:].lower())
        elif node.type == 'foreach_statement':
            assigned.update(node_text(c)[1:].lower() for c in node.children if c.type == 'variable')
        elif node.type == 'variable':
            name = node_text(node)[1:].lower()
            target = node.parent
            while target is not None and target.type not in ('left_assignment_expression', 'assignment_expression', 'foreach_statement'):
                target = target.parent
            if target is not None and target.type == 'left_assignment_expression' and node_text(target).strip() == node_text(node):
                assigned.add(name)
            elif node.parent.type not in ('script_parameter', 'foreach_statement'):
                read.add(name)
    return params, assigned, read


def _scopes(parser, path):
    tree = _tree(parser, path)
    functions = _functions(tree)
    return list(functions.items()) if functions else [(path, tree.root_node)]


@pytest.mark.parametrize('path', sorted(EXPECTED))
def test_every_variable_read_is_a_parameter_or_assigned_and_every_assigned_one_is_read(parser, path):
    # The scripts never rely on a caller's variables (PowerShell's dynamic scoping would let a typo
    # read one silently), and a variable assigned but never read is a typo or dead code.
    for name, scope in _scopes(parser, path):
        params, assigned, read = _variables(scope)
        unknown = {v for v in read - params - assigned - AUTOMATIC if not v.startswith('env:')}
        assert not unknown, '%s reads $%s, which it never assigns' % (name, ', $'.join(sorted(unknown)))
        unused = assigned - read - {'null', 'erroractionpreference'}
        assert not unused, '%s assigns $%s and never reads it' % (name, ', $'.join(sorted(unused)))
