# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/prepare_windows without Windows: its data against Microsoft's "Prepare a Windows VHD or VHDX to
upload to Azure" checklist, its tasks against the modules of the installed ansible.windows /
community.windows collections (FQCN, documented options only), its PowerShell through
tree-sitter-powershell, its Jinja through ansible-playbook on localhost, ansible-lint and a syntax check.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import ansible
import pytest
import yaml

from ansible.playbook.block import Block
from ansible.playbook.task import Task

from ansible_collections.vmimage.azure.tests.support.plugin_docs import assigned_yaml
from ansible_collections.vmimage.azure.tests.support.powershell import new_parser, node_text, parse, problems, walk

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / 'roles' / 'prepare_windows'
BIN = Path(sys.executable).parent
INSTALLED = Path(ansible.__file__).resolve().parent.parent / 'ansible_collections'
CORE_MODULES = Path(ansible.__file__).resolve().parent / 'modules'
CORE_FRAGMENTS = Path(ansible.__file__).resolve().parent / 'plugins' / 'doc_fragments'


def _yaml(path):
    return yaml.safe_load(path.read_text(encoding='utf-8'))


DEFAULTS = _yaml(ROLE / 'defaults' / 'main.yml')
VARS = _yaml(ROLE / 'vars' / 'main.yml')
SPECS = _yaml(ROLE / 'meta' / 'argument_specs.yml')['argument_specs']
TASK_FILES = sorted((ROLE / 'tasks').glob('*.yml')) + [ROLE / 'handlers' / 'main.yml']
SCRIPTS = sorted((ROLE / 'files').glob('*.ps1'))

# Microsoft's checklist, transcribed here independently of the role's data.
MS_SERVICES = {
    # "Check the Windows services"
    'BFE': 'auto', 'Dhcp': 'auto', 'Dnscache': 'auto', 'IKEEXT': 'auto', 'iphlpsvc': 'auto', 'nsi': 'auto',
    'mpssvc': 'auto', 'RemoteRegistry': 'auto', 'Netlogon': 'manual', 'Netman': 'manual', 'TermService': 'manual',
    # UTC time: w32time Automatic; crash dumps: WerSvc Manual; serial console: sacsvr Automatic (Server).
    'w32time': 'auto', 'WerSvc': 'manual', 'sacsvr': 'auto',
}
TS = r'HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server'
RDP_TCP = TS + r'\WinStations\RDP-Tcp'
TS_POLICY = r'HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services'
ENV = r'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
CRASH = r'HKLM:\SYSTEM\CurrentControlSet\Control\CrashControl'
LOCALDUMPS = r'HKLM:\SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps'
MS_REGISTRY = {
    (r'HKLM:\SYSTEM\CurrentControlSet\Control\TimeZoneInformation', 'RealTimeIsUniversal'): ('dword', 1),
    (ENV, 'TEMP'): ('expandstring', r'%SystemRoot%\TEMP'),
    (ENV, 'TMP'): ('expandstring', r'%SystemRoot%\TEMP'),
    (TS, 'fDenyTSConnections'): ('dword', 0),
    (TS_POLICY, 'fDenyTSConnections'): ('dword', 0),
    (RDP_TCP, 'PortNumber'): ('dword', 3389),
    (RDP_TCP, 'LanAdapter'): ('dword', 0),
    (RDP_TCP, 'UserAuthentication'): ('dword', 1),
    (TS_POLICY, 'KeepAliveEnable'): ('dword', 1),
    (TS_POLICY, 'KeepAliveInterval'): ('dword', 1),
    (RDP_TCP, 'KeepAliveTimeout'): ('dword', 1),
    (TS_POLICY, 'fDisableAutoReconnect'): ('dword', 0),
    (RDP_TCP, 'fInheritReconnectSame'): ('dword', 1),
    (RDP_TCP, 'fReconnectSame'): ('dword', 0),
    (RDP_TCP, 'MaxInstanceCount'): ('dword', 4294967295),
    (RDP_TCP, 'SSLCertificateSHA1Hash'): ('absent', None),
    (r'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager\Memory Management', 'PagingFiles'): ('multistring', [r'D:\pagefile.sys']),
    (CRASH, 'CrashDumpEnabled'): ('dword', 2),
    (CRASH, 'DumpFile'): ('expandstring', r'%SystemRoot%\MEMORY.DMP'),
    (CRASH, 'NMICrashDump'): ('dword', 1),
    (LOCALDUMPS, 'DumpFolder'): ('expandstring', r'C:\CrashDumps'),
    (LOCALDUMPS, 'CrashCount'): ('dword', 10),
    (LOCALDUMPS, 'DumpType'): ('dword', 2),
}
MS_BCD = {
    ('{bootmgr}', 'integrityservices'): 'enable',
    ('{default}', 'device'): 'partition=C:',
    ('{default}', 'integrityservices'): 'enable',
    ('{default}', 'recoveryenabled'): 'off',
    ('{default}', 'osdevice'): 'partition=C:',
    ('{default}', 'bootstatuspolicy'): 'IgnoreAllFailures',
    ('{bootmgr}', 'displaybootmenu'): 'yes',
    ('{bootmgr}', 'timeout'): '5',
    ('{bootmgr}', 'bootems'): 'yes',
    ('{current}', 'ems'): 'on',
    ('{emssettings}', 'emsport'): '1',
    ('{emssettings}', 'emsbaudrate'): '115200',
}
# Each checklist item and what must carry it out: a module, or a script of files/.
ITEM_ACTIONS = {
    'routes': 'routes.ps1',
    'winhttp_proxy': 'ansible.windows.win_http_proxy',
    'san_policy': 'san_policy.ps1',
    'clock': 'ansible.windows.win_regedit',
    'environment': 'ansible.windows.win_regedit',
    'power': 'community.windows.win_power_plan',
    'services': 'ansible.windows.win_service',
    'rdp': 'ansible.windows.win_regedit',
    'firewall': 'ansible.windows.win_firewall',
    'winrm': 'winrm.ps1',
    'boot': 'bcd.ps1',
    'pagefile': 'ansible.windows.win_regedit',
    'crash_dump': 'ansible.windows.win_regedit',
    'agent': 'ansible.windows.win_package',
}
REGEDIT_TYPES = {'none', 'binary', 'dword', 'expandstring', 'multistring', 'string', 'qword'}
START_MODES = {'auto', 'delayed', 'disabled', 'manual'}
TASK_KEYWORDS = set(Task.fattributes) | set(Block.fattributes) | {'loop', 'loop_control', 'notify', 'listen'}
FREE_FORM = {'ansible.builtin.meta', 'ansible.builtin.include_tasks', 'ansible.windows.win_shell', 'ansible.windows.win_command'}


def _tasks():
    """(file, task) for every task of the role, blocks flattened."""
    found = []

    def visit(path, tasks):
        for task in tasks or []:
            for section in ('block', 'rescue', 'always'):
                if section in task:
                    visit(path, task[section])
            if 'block' not in task:
                found.append((path.relative_to(ROLE).as_posix(), task))

    for path in TASK_FILES:
        visit(path, _yaml(path))
    return found


TASKS = _tasks()


def _module(task):
    names = [key for key in task if key not in TASK_KEYWORDS and not key.startswith('with_')]
    assert len(names) == 1, task
    return names[0]


def _module_path(fqcn):
    namespace, collection, name = fqcn.split('.')
    if (namespace, collection) == ('ansible', 'builtin'):
        return CORE_MODULES / (name + '.py')
    return INSTALLED / namespace / collection / 'plugins' / 'modules' / (name + '.py')


def _fragment_options(name):
    parts = name.split('.')
    if len(parts) >= 3:
        namespace, collection, fragment = parts[:3]
        attribute = parts[3].upper() if len(parts) > 3 else 'DOCUMENTATION'
        directory = INSTALLED / namespace / collection / 'plugins' / 'doc_fragments'
    else:
        fragment = parts[0]
        attribute = parts[1].upper() if len(parts) > 1 else 'DOCUMENTATION'
        directory = CORE_FRAGMENTS
    return (assigned_yaml(directory / (fragment + '.py'), attribute, 'ModuleDocFragment') or {}).get('options', {})


def _documented_options(fqcn):
    documentation = assigned_yaml(_module_path(fqcn), 'DOCUMENTATION')
    options = dict(documentation.get('options') or {})
    fragments = documentation.get('extends_documentation_fragment') or []
    for fragment in [fragments] if isinstance(fragments, str) else fragments:
        options.update(_fragment_options(fragment))
    names = set(options)
    for spec in options.values():
        names.update(spec.get('aliases') or [])
    return names


def _entries(name):
    return VARS['prepare_windows_checklist_' + name]


# ---------------------------------------------------------------------------------------------
# The data against the checklist


def test_every_service_of_the_checklist_has_its_start_type():
    services = {entry['name']: entry for entry in _entries('services')}
    assert {name: entry['start_mode'] for name, entry in services.items()} == MS_SERVICES
    assert all(entry['start_mode'] in START_MODES for entry in services.values())
    assert [name for name, entry in services.items() if entry.get('optional')] == ['sacsvr']


def test_every_registry_value_of_the_checklist_is_set_with_a_valid_type():
    found = {}
    for entry in _entries('registry'):
        key = (entry['path'], entry['name'])
        assert key not in found, key
        if entry.get('state') == 'absent':
            assert 'data' not in entry and 'type' not in entry, entry
            found[key] = ('absent', None)
            continue
        assert entry['type'] in REGEDIT_TYPES, entry
        assert entry['path'].startswith('HKLM:\\'), entry
        data = entry['data']
        if entry['type'] in ('dword', 'qword'):
            assert isinstance(data, int) and 0 <= data < (2 ** 32 if entry['type'] == 'dword' else 2 ** 64), entry
        elif entry['type'] == 'multistring':
            assert isinstance(data, list), entry
        if isinstance(data, list):
            data = [value.replace('{{ prepare_windows_pagefile_path }}', DEFAULTS['prepare_windows_pagefile_path']) for value in data]
        found[key] = (entry['type'], data)
    assert found == MS_REGISTRY


def test_the_boot_configuration_is_the_checklists():
    entries = _entries('bcd')
    assert {(entry['id'], entry['element']): entry['value'] for entry in entries} == MS_BCD
    commands = {' '.join(entry['command']) for entry in entries if 'command' in entry}
    # The EMS switches, as Microsoft writes them.
    assert commands == {'/ems {current} ON', '/emssettings EMSPORT:1 EMSBAUDRATE:115200'}


def test_the_firewall_rules_are_the_checklists():
    rules = _entries('firewall_rules')
    assert {'step': 'firewall', 'name': 'FPS-ICMP4-ERQ-In'} in rules
    assert any(rule.get('display_group') == '{{ prepare_windows_rdp_firewall_group }}' and rule['step'] == 'rdp' for rule in rules)
    assert DEFAULTS['prepare_windows_rdp_firewall_group'] == 'Remote Desktop'
    created = {rule['direction']: rule for rule in rules if rule.get('create')}
    assert set(created) == {'Inbound', 'Outbound'}
    for rule in created.values():
        assert (rule['display_name'], rule['remote_address'], rule['profile'], rule['action']) == ('AzurePlatform', '168.63.129.16', 'Any', 'Allow')
    assert created['Inbound']['edge_traversal'] == 'Allow'
    assert 'edge_traversal' not in created['Outbound']
    assert {rule['name'] for rule in rules if rule['step'] == 'winrm'} >= {'WINRM-HTTP-In-TCP'}
    assert VARS['prepare_windows_checklist_firewall_profiles'] == ['Domain', 'Private', 'Public']


def test_the_power_plan_san_policy_and_agent_are_the_checklists():
    assert VARS['prepare_windows_checklist_power_scheme'] == '8c5e7fda-e8bf-4a96-9a85-a6e23a8c635c'  # SCHEME_MIN
    assert _entries('power_settings') == [{'step': 'power', 'subgroup': 'SUB_VIDEO', 'setting': 'VIDEOIDLE', 'ac_value': 0}]
    assert VARS['prepare_windows_checklist_san_policy'] == 'OnlineAll'
    assert DEFAULTS['prepare_windows_install_agent'] is False
    assert DEFAULTS['prepare_windows_readiness_fail'] is True


def test_every_entry_names_a_checklist_item_that_has_a_switch():
    switches = VARS['prepare_windows_item_switches']
    assert set(switches) == set(ITEM_ACTIONS)
    for item, expression in switches.items():
        variable = re.fullmatch(r'\{\{ (prepare_windows_\w+) \| bool \}\}', expression).group(1)
        assert DEFAULTS[variable] is (item != 'agent'), variable
    for name in ('services', 'registry', 'bcd', 'firewall_rules', 'power_settings'):
        for entry in _entries(name):
            assert entry['step'] in switches, entry


def test_each_checklist_item_is_carried_out_by_a_task():
    modules = {_module(task) for _name, task in TASKS}
    scripts = {task[_module(task)].get('path') for _name, task in TASKS if _module(task) == 'ansible.windows.win_powershell'}
    for item, action in ITEM_ACTIONS.items():
        assert action in (scripts if action.endswith('.ps1') else modules), (item, action)
    assert 'readiness.ps1' in scripts


# ---------------------------------------------------------------------------------------------
# Variables and their documentation


def test_every_variable_is_prefixed_and_documented_with_its_default():
    options = SPECS['main']['options']
    assert set(options) == set(DEFAULTS)
    python_types = {'bool': bool, 'str': str, 'int': int, 'list': list, 'dict': dict}
    for name, spec in options.items():
        assert name.startswith('prepare_windows_'), name
        assert spec.get('description'), name
        assert spec['default'] == DEFAULTS[name], name
        assert isinstance(DEFAULTS[name], python_types[spec['type']]), name
    assert all(name.startswith('prepare_windows_') for name in VARS)
    for _name, task in TASKS:
        if 'register' in task:
            assert task['register'].startswith('prepare_windows_'), task
        for name in (task.get('ansible.builtin.set_fact') or {}):
            assert name.startswith('prepare_windows_'), task


# ---------------------------------------------------------------------------------------------
# Tasks against the installed modules


@pytest.mark.parametrize('where,task', TASKS, ids=['%s:%s' % (where, task.get('name')) for where, task in TASKS])
def test_each_task_uses_an_installed_module_and_only_its_options(where, task):
    module = _module(task)
    assert module.count('.') == 2, 'not an FQCN: %s' % module
    assert _module_path(module).is_file(), '%s is not in the installed collections' % module
    assert task.get('name'), where
    args = task[module]
    if isinstance(args, str):
        assert module in FREE_FORM, task
        return
    documented = _documented_options(module)
    if module == 'ansible.builtin.set_fact':
        # Its options are the facts it sets (and cacheable).
        documented |= {name for name in args if name.startswith('prepare_windows_')}
    unknown = set(args or {}) - documented
    assert not unknown, '%s: %s does not document %s' % (where, module, sorted(unknown))


def test_every_win_powershell_script_exists_and_gets_the_parameters_it_declares():
    parser = new_parser()
    for _name, task in TASKS:
        module = _module(task)
        if module != 'ansible.windows.win_powershell':
            continue
        args = task[module]
        script = ROLE / 'files' / args['path']
        assert script.is_file(), args['path']
        declared = _param_names(parser, script.read_bytes())
        assert set(args.get('parameters') or {}) <= declared, (args['path'], declared)
        # Scripts that change something run in check mode only through ShouldProcess.
        assert 'SupportsShouldProcess' in script.read_text(encoding='utf-8'), args['path']


def _param_names(parser, text):
    """The parameters of the script's own param block (top level, not those of its functions)."""
    names = set()
    for block in parse(parser, text).root_node.children:
        if block.type != 'param_block':
            continue
        for parameter in walk(block):
            if parameter.type == 'script_parameter':
                variable = next(child for child in parameter.children if child.type == 'variable')
                names.add(node_text(variable).lstrip('$'))
    return names


# ---------------------------------------------------------------------------------------------
# PowerShell


def _inline_snippets():
    found = []
    for where, task in TASKS:
        module = _module(task)
        args = task[module]
        if module == 'ansible.windows.win_powershell' and args.get('script'):
            found.append(('%s:%s' % (where, task['name']), args['script']))
        elif module == 'ansible.windows.win_shell':
            found.append(('%s:%s' % (where, task['name']), args if isinstance(args, str) else args.get('cmd', '')))
    return found


@pytest.mark.parametrize('name,text', [(path.name, path.read_text(encoding='utf-8')) for path in SCRIPTS] + _inline_snippets())
def test_the_powershell_parses(name, text):
    assert problems(new_parser(), text) == [], name


def test_the_scripts_use_windows_powershell_51_syntax_and_set_changed():
    for path in SCRIPTS:
        text = path.read_text(encoding='utf-8')
        assert text.startswith('# Private to vmimage.azure (roles/prepare_windows)'), path.name
        assert '$Ansible.Changed = $false' in text, path.name
        for operator in ('??', ' ? ', '?.', '&&', '||'):
            assert operator not in re.sub(r"'[^']*'|\"[^\"]*\"|#.*", '', text), (path.name, operator)


def test_the_readiness_script_reports_one_object_per_item():
    text = (ROLE / 'files' / 'readiness.ps1').read_text(encoding='utf-8')
    assert re.search(r'name = \$name\s+ok = \(\$found\.Count -eq 0\)\s+detail = \$detail', text)
    # It only reads: no cmdlet that changes something.
    assert not re.search(r'\b(Set|New|Remove|Enable|Disable)-[A-Z]\w+', text)
    assert '/set' not in text


# ---------------------------------------------------------------------------------------------
# Jinja and the role, through ansible-playbook on localhost


def _env():
    env = dict(os.environ)
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / '.build' / 'collections'))
    env.update(ANSIBLE_NOCOWS='1', ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_FORCE_COLOR='0', NO_COLOR='1')
    env['PATH'] = '%s%s%s' % (BIN, os.pathsep, env.get('PATH', ''))
    return env


def _playbook(tmp_path, play, *extra):
    playbook = tmp_path / 'play.yml'
    playbook.write_text(yaml.safe_dump([play], sort_keys=False), encoding='utf-8')
    command = [str(BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable]
    command += list(extra) + [str(playbook)]
    return subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300, check=False)


def test_the_syntax_check_of_a_play_with_the_role(tmp_path):
    playbook = tmp_path / 'site.yml'
    playbook.write_text(yaml.safe_dump([{'name': 'Prepare', 'hosts': 'all', 'gather_facts': False,
                                         'roles': ['vmimage.azure.prepare_windows']}]), encoding='utf-8')
    result = subprocess.run([str(BIN / 'ansible-playbook'), '--syntax-check', '-i', 'localhost,', str(playbook)],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize('switched_off', [[], ['rdp', 'pagefile'], ['firewall', 'winrm', 'boot']])
def test_the_lists_the_tasks_loop_over_follow_the_switches(tmp_path, switched_off):
    out = tmp_path / 'lists.json'
    lists = ['enabled_items', 'service_list', 'registry_list', 'bcd_list', 'firewall_rule_list', 'power_setting_list']
    content = '{{ {%s} | to_json }}' % ', '.join("'%s': prepare_windows_%s" % (name, name) for name in lists)
    play = {'name': 'Render', 'hosts': 'localhost', 'gather_facts': False,
            'vars_files': [str(ROLE / 'defaults' / 'main.yml'), str(ROLE / 'vars' / 'main.yml')],
            'tasks': [{'name': 'Write', 'ansible.builtin.copy': {'dest': str(out), 'content': content, 'mode': '0644'}}]}
    extra = ['-e', json.dumps({'prepare_windows_' + item: False for item in switched_off})]
    result = _playbook(tmp_path, play, *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = json.loads(out.read_text(encoding='utf-8'))
    assert rendered['enabled_items'] == [item for item in ITEM_ACTIONS if item not in switched_off + ['agent']]
    for name in lists[1:]:
        assert all(entry['step'] in rendered['enabled_items'] for entry in rendered[name]), name
    pagefile = [entry for entry in rendered['registry_list'] if entry['name'] == 'PagingFiles']
    assert [entry['data'] for entry in pagefile] == ([] if 'pagefile' in switched_off else [[r'D:\pagefile.sys']])
    groups = [entry['display_group'] for entry in rendered['firewall_rule_list'] if 'display_group' in entry]
    assert groups == ([] if 'rdp' in switched_off else ['Remote Desktop'])


@pytest.mark.parametrize('fail,check_mode,expect_failure', [(True, False, True), (False, False, False), (True, True, False)])
def test_the_report_fails_on_an_item_not_ready_unless_told_not_to(tmp_path, fail, check_mode, expect_failure):
    report = [{'name': 'routes', 'ok': True, 'detail': 'ready'},
              {'name': 'rdp', 'ok': False, 'detail': r'HKLM:\SYSTEM\...\fDenyTSConnections is missing'}]
    play = {'name': 'Report', 'hosts': 'localhost', 'gather_facts': False,
            'vars': {'prepare_windows_readiness_report': report, 'prepare_windows_readiness_fail': fail},
            'tasks': [{'name': 'Report', 'ansible.builtin.include_role': {'name': 'vmimage.azure.prepare_windows', 'tasks_from': 'report'}}]}
    result = _playbook(tmp_path, play, *(['--check'] if check_mode else []))
    assert (result.returncode != 0) is expect_failure, result.stdout + result.stderr
    assert 'NOT READY' in result.stdout and 'fDenyTSConnections is missing' in result.stdout
    if expect_failure:
        assert 'Not ready for Azure: rdp' in result.stdout


def test_ansible_lint_production_is_clean(tmp_path):
    lint = BIN / 'ansible-lint'
    if not lint.exists() and not shutil.which('ansible-lint'):
        pytest.skip('ansible-lint is not installed (tests/requirements.txt)')
    env = _env()
    env['HOME'] = str(tmp_path)
    result = subprocess.run([str(lint) if lint.exists() else 'ansible-lint', '--offline', '--nocolor', '--profile', 'production', 'roles/prepare_windows'],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
