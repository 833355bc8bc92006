# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Windows generalization's decisions (_guest/sysprep.py), the Run Command script builder and its
result parser (_guest/scripts.py), and the two generated files.

No Windows or PowerShell runs here: what the PowerShell decides is data these tests cover, and
tests/unit/plugins/test_powershell_parse.py parses every script with tree-sitter-powershell.

After editing plugins/module_utils/VmimageSysprep.psm1 or the tables of _guest/sysprep.py,
regenerate the ``PSM1`` constant of _guest/scripts.py and plugins/module_utils/_VmimageSysprepDecisions.psm1
by running this file as a script (from the checkout, after ``make layout``):
``PYTHONPATH=.build/collections .venv/bin/python tests/unit/plugins/module_utils/test_guest_sysprep.py``."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._guest import scripts
from ansible_collections.vmimage.azure.plugins.module_utils._guest import sysprep

ROOT = Path(__file__).resolve().parents[4]
UTILS = ROOT / 'plugins' / 'module_utils'
PSM1 = UTILS / scripts.PSM1_NAME
DECISIONS_PSM1 = UTILS / scripts.DECISIONS_PSM1_NAME
HOLDER = UTILS / '_guest' / 'scripts.py'
BEGIN = '# BEGIN %s ' % scripts.PSM1_NAME

# Every value Microsoft's "Windows Setup States" page documents for ImageState.
DOCUMENTED_STATES = {
    'IMAGE_STATE_COMPLETE',
    'IMAGE_STATE_UNDEPLOYABLE',
    'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE',
    'IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT',
    'IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE',
    'IMAGE_STATE_SPECIALIZE_RESEAL_TO_AUDIT',
}


def regenerate():
    """Write both generated files from their sources."""
    text = HOLDER.read_text()
    HOLDER.write_text(text[:text.index(BEGIN)] + scripts.render_psm1_constant(PSM1.read_text()))
    DECISIONS_PSM1.write_text(scripts.render_decisions_psm1(sysprep.decisions_json()))


REGENERATE = 'run "PYTHONPATH=.build/collections .venv/bin/python %s" to regenerate it' % Path(__file__).relative_to(ROOT)


# --- the generated files --------------------------------------------------------------------------------

def test_the_psm1_constant_is_a_byte_for_byte_copy_of_the_psm1_file():
    assert scripts.PSM1.encode('utf-8') == PSM1.read_bytes(), 'plugins/module_utils/_guest/scripts.py is stale: ' + REGENERATE
    text = HOLDER.read_text()
    assert text[text.index(BEGIN):] == scripts.render_psm1_constant(PSM1.read_text()), REGENERATE


def test_the_decisions_psm1_holds_the_decisions_of_sysprep_py():
    expected = scripts.render_decisions_psm1(sysprep.decisions_json())
    assert DECISIONS_PSM1.read_text() == expected, 'plugins/module_utils/%s is stale: %s' % (scripts.DECISIONS_PSM1_NAME, REGENERATE)
    pieces = re.findall(r"^        '((?:[^']|'')*)'$", DECISIONS_PSM1.read_text(), re.M)
    assert json.loads(''.join(piece.replace("''", "'") for piece in pieces)) == sysprep.decisions()
    assert all(len(line) <= 160 for line in expected.splitlines())


def test_the_constant_renderer_refuses_what_a_raw_string_cannot_hold():
    for bad in ("a ''' b\n", 'ends with \\', 'crlf\r\n'):
        with pytest.raises(ValueError):
            scripts.render_psm1_constant(bad)


def test_the_psm1_files_are_ascii_with_lf_line_ends():
    # Windows PowerShell 5.1 reads a BOM-less file as the ANSI code page: ASCII only, and no smart quotes.
    for path in (PSM1, DECISIONS_PSM1, ROOT / 'plugins' / 'modules' / 'win_sysprep.ps1'):
        data = path.read_bytes()
        assert data.decode('ascii') and b'\r' not in data and data.endswith(b'\n'), path
        assert all(len(line) <= 160 and line == line.rstrip() for line in data.decode().splitlines()), path


# --- ImageState -> outcome -------------------------------------------------------------------------------

def test_every_documented_image_state_has_a_decision_and_nothing_else_does():
    assert set(sysprep.IMAGE_STATES) == DOCUMENTED_STATES


@pytest.mark.parametrize('state, before, after, name', [
    ('IMAGE_STATE_COMPLETE', 'run', 'failed', 'specialized'),
    ('IMAGE_STATE_UNDEPLOYABLE', 'blocked', 'failed', 'incomplete'),
    ('IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', 'done', 'success', 'generalized'),
    ('IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT', 'blocked', 'failed', 'generalized_to_audit'),
    ('IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE', 'blocked', 'failed', 'specialized_to_oobe'),
    ('IMAGE_STATE_SPECIALIZE_RESEAL_TO_AUDIT', 'blocked', 'failed', 'specialized_to_audit'),
])
def test_outcome_of_each_image_state(state, before, after, name):
    entry = sysprep.outcome(state)
    assert (entry['state'], entry['before'], entry['after'], entry['outcome']) == (state, before, after, name)
    # The message names the state and says what to do; no template marker is left.
    assert state in entry['message'] and '{detail}' not in entry['message']
    assert entry['meaning']


def test_only_the_good_state_is_success_and_only_complete_may_be_generalized():
    assert [s for s, e in sysprep.IMAGE_STATES.items() if e['after'] == 'success'] == [sysprep.GOOD_STATE]
    assert [s for s, e in sysprep.IMAGE_STATES.items() if e['before'] == 'done'] == [sysprep.GOOD_STATE]
    assert [s for s, e in sysprep.IMAGE_STATES.items() if e['before'] == 'run'] == ['IMAGE_STATE_COMPLETE']
    names = [e['outcome'] for e in sysprep.IMAGE_STATES.values()] + [sysprep.UNKNOWN_STATE['outcome']]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize('state', ['', None, 'IMAGE_STATE_SOMETHING_NEW', 'image_state_complete'])
def test_an_undocumented_or_missing_state_blocks(state):
    entry = sysprep.outcome(state)
    assert (entry['outcome'], entry['before'], entry['after']) == ('unknown', 'blocked', 'failed')
    assert entry['state'] == (state or '')
    assert "ImageState is '%s'" % (state or '') in entry['message']


def test_outcome_returns_a_copy():
    entry = sysprep.outcome('IMAGE_STATE_COMPLETE')
    entry['before'] = 'done'
    assert sysprep.IMAGE_STATES['IMAGE_STATE_COMPLETE']['before'] == 'run'


# --- pre-check -> message ----------------------------------------------------------------------------------

@pytest.mark.parametrize('name, blocking, words', [
    ('image_state', True, ['cannot start', 'IMAGE_STATE_X']),
    ('sysprep_exe', True, ['Sysprep.exe was not found at IMAGE_STATE_X']),
    ('sysprep_running', True, ['already running', 'IMAGE_STATE_X']),
    ('upgrade', True, ['upgraded in place', 'clean installation']),
    ('pending_reboot', True, ['reboot is pending (IMAGE_STATE_X)', 'win_reboot']),
    ('bitlocker', True, ['BitLocker', 'Disable-BitLocker', 'FullyDecrypted']),
    ('unattend', False, ['removed before Sysprep runs: IMAGE_STATE_X.']),
])
def test_precheck_message_of_each_precheck(name, blocking, words):
    assert sysprep.PRECHECKS[name]['blocking'] is blocking
    message = sysprep.precheck_message(name, 'IMAGE_STATE_X')
    assert '{detail}' not in message and 'IMAGE_STATE_X' in message
    for word in words:
        assert word in message


def test_every_precheck_is_tested_above():
    assert set(sysprep.PRECHECKS) == {'image_state', 'sysprep_exe', 'sysprep_running', 'upgrade', 'pending_reboot', 'bitlocker', 'unattend'}


def test_a_detail_with_braces_is_inserted_as_is():
    assert '{0} {x}' in sysprep.precheck_message('pending_reboot', '{0} {x}')
    assert sysprep.precheck_message('pending_reboot', None).startswith('A reboot is pending ()')


def test_an_unknown_precheck_or_result_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown Sysprep pre-check 'nope'.*bitlocker"):
        sysprep.precheck_message('nope', '')
    with pytest.raises(ValueError, match="unknown Sysprep result 'nope'.*timeout"):
        sysprep.result_message('nope')


# --- run outcome -> failed / changed / message -------------------------------------------------------------

@pytest.mark.parametrize('name, failed, changed', [
    ('generalized', False, True),
    ('unchanged', False, False),
    ('would_generalize', False, True),
    ('precheck_failed', True, False),
    ('clean_failed', True, True),
    ('sysprep_failed', True, True),
    ('timeout', True, True),
    ('shutdown_failed', True, True),
    ('error', True, False),
])
def test_each_result(name, failed, changed):
    entry = sysprep.RESULTS[name]
    assert (entry['failed'], entry['changed']) == (failed, changed)
    message = sysprep.result_message(name, 'DETAIL')
    assert '{detail}' not in message
    assert ('DETAIL' in message) == ('{detail}' in entry['message'])


def test_every_result_is_tested_above():
    assert len(sysprep.RESULTS) == 9


def test_failure_messages_that_involve_sysprep_point_at_its_log():
    for name in ('sysprep_failed', 'timeout'):
        assert 'log_tail' in sysprep.RESULTS[name]['message'] and 'setupact.log' in sysprep.RESULTS[name]['message']


# --- the decisions as JSON ---------------------------------------------------------------------------------

def test_decisions_json_round_trips_and_is_stable():
    text = sysprep.decisions_json()
    assert json.loads(text) == sysprep.decisions()
    assert text == sysprep.decisions_json()
    text.encode('ascii')
    assert set(sysprep.decisions()) == {'good_state', 'states', 'unknown_state', 'prechecks', 'results'}


def test_decisions_are_copies():
    data = sysprep.decisions()
    data['states']['IMAGE_STATE_COMPLETE']['before'] = 'done'
    data['results']['generalized']['failed'] = True
    assert sysprep.IMAGE_STATES['IMAGE_STATE_COMPLETE']['before'] == 'run'
    assert sysprep.RESULTS['generalized']['failed'] is False


def _psm1_names(pattern):
    return set(re.findall(pattern, PSM1.read_text()))


def test_the_psm1_uses_exactly_the_prechecks_and_results_of_the_tables():
    # A name the PowerShell uses but the tables lack would throw at run time; one the tables have but the
    # PowerShell never uses is a decision nobody makes.
    assert _psm1_names(r"New-VmimageCheck [^\n]*-Name '(\w+)'") == set(sysprep.PRECHECKS)
    assert _psm1_names(r"Set-VmimageOutcome [^\n]*-Outcome '(\w+)'") == set(sysprep.RESULTS)


def test_the_psm1_reads_only_fields_the_tables_have():
    text = PSM1.read_text()
    assert set(re.findall(r'\$entry\.(\w+)', text)) == {'before', 'after', 'message', 'blocking', 'failed', 'changed'}
    for entry in list(sysprep.IMAGE_STATES.values()) + [sysprep.UNKNOWN_STATE]:
        assert {'before', 'after', 'message'} <= set(entry)
    assert all(set(entry) == {'blocking', 'message'} for entry in sysprep.PRECHECKS.values())
    assert all(set(entry) == {'failed', 'changed', 'message'} for entry in sysprep.RESULTS.values())
    assert set(re.findall(r'\$Decisions\.(\w+)', text)) == set(sysprep.decisions())


def test_the_psm1_result_has_the_result_fields():
    block = re.search(r'\$result = \[ordered\]@\{\n(.*?)\n    \}', PSM1.read_text(), re.S).group(1)
    assert tuple(re.findall(r'^\s+(\w+) =', block, re.M)) == sysprep.RESULT_FIELDS


# --- the Run Command script --------------------------------------------------------------------------------

def _call_line(lines):
    assert lines[-1].startswith('ConvertTo-VmimageResultLine -Result (Invoke-VmimageSysprep ')
    return lines[-1]


def _embedded_json(line):
    match = re.search(r"-DecisionsJson '((?:[^']|'')*)' ", line)
    assert match, line
    return match.group(1).replace("''", "'")


@pytest.mark.parametrize('shutdown', [False, True])
def test_the_script_is_the_psm1_functions_then_one_call(shutdown):
    lines = scripts.windows_run_command_script(1800, shutdown=shutdown)
    assert all(isinstance(line, str) for line in lines)
    psm1_lines = PSM1.read_text().splitlines()
    assert lines[:-1] == [line for line in psm1_lines if not line.startswith('Export-ModuleMember')]
    assert len(lines) == len(psm1_lines)
    line = _call_line(lines)
    assert ' -TimeoutSeconds 1800' in line
    assert line.endswith(' -Shutdown)') is shutdown
    assert not any(line.lstrip().startswith('Export-ModuleMember') for line in lines)


def test_the_decisions_are_embedded_as_json():
    line = _call_line(scripts.windows_run_command_script(60))
    assert json.loads(_embedded_json(line)) == sysprep.decisions()
    # The messages have apostrophes ("machine's"): they must be doubled inside the single-quoted string.
    assert "machine''s" in line


def test_powershell_quote_doubles_every_kind_of_single_quote():
    assert scripts.powershell_quote("it's") == "'it''s'"
    assert scripts.powershell_quote('a\u2019b\u2018c') == "'a\u2019\u2019b\u2018\u2018c'"
    assert scripts.powershell_quote('$x "y" `z') == '\'$x "y" `z\''


@pytest.mark.parametrize('timeout', [0, -5, scripts.MAX_TIMEOUT + 1, True, 1.5, '60', None])
def test_a_bad_timeout_is_refused(timeout):
    with pytest.raises(ValueError, match='whole number of seconds from 1 to 86400'):
        scripts.windows_run_command_script(timeout)


def test_psm1_functions_needs_exactly_one_export_line(monkeypatch):
    monkeypatch.setattr(scripts, 'PSM1', 'Function A {\n}\n')
    with pytest.raises(ValueError, match='exactly one line'):
        scripts.psm1_functions()
    monkeypatch.setattr(scripts, 'PSM1', "Function A {\n}\nExport-ModuleMember -Function 'A'\nExport-ModuleMember -Function 'B'\n")
    with pytest.raises(ValueError, match='found 2'):
        scripts.psm1_functions()


# --- parse_result --------------------------------------------------------------------------------------------

def _result(**changes):
    result = {
        'image_state': 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', 'outcome': 'generalized', 'changed': True, 'failed': False,
        'message': 'Sysprep generalized Windows', 'log_tail': '', 'prechecks': [{'name': 'bitlocker', 'status': 'skipped'}],
        'steps': [{'name': 'sysprep', 'status': 'done', 'detail': 'process 42'}],
    }
    result.update(changes)
    return result


def _line(result):
    return scripts.RESULT_MARKER + json.dumps(result, separators=(',', ':'))


def test_parse_result_finds_the_line_among_other_output():
    output = 'some warning\r\n%s\r\n\r\n' % _line(_result())
    assert scripts.parse_result(output) == _result()
    assert scripts.parse_result(output.encode('utf-8')) == _result()


def test_parse_result_takes_the_last_line():
    output = '\n'.join([_line(_result(outcome='error', failed=True)), 'noise', '  ' + _line(_result())])
    assert scripts.parse_result(output)['outcome'] == 'generalized'


def test_parse_result_reads_what_powershell_5_writes():
    # ConvertTo-Json in Windows PowerShell 5.1 escapes ' < > & as \\u0027 ...
    line = scripts.RESULT_MARKER + json.dumps(_result(message="machine's <log> & more")).replace("'", '\\u0027').replace('<', '\\u003c')
    assert scripts.parse_result(line)['message'] == "machine's <log> & more"


@pytest.mark.parametrize('output', [None, '', 'Sysprep is running\n', b'', 'VMIMAGE_RESULT_X {}\n'])
def test_parse_result_without_a_line_is_a_clear_error(output):
    with pytest.raises(scripts.ScriptResultError, match=r'printed no VMIMAGE_RESULT line.*End of its output: '):
        scripts.parse_result(output)


def test_the_error_quotes_the_end_of_the_output():
    output = 'x' * 5000 + 'THE END'
    with pytest.raises(scripts.ScriptResultError) as info:
        scripts.parse_result(output)
    assert str(info.value).endswith('THE END') and len(str(info.value)) < 1300


@pytest.mark.parametrize('line, match', [
    ('VMIMAGE_RESULT {"image_state": ', 'not valid JSON'),
    ('VMIMAGE_RESULT [1, 2]', 'not a JSON object'),
    ('VMIMAGE_RESULT {"outcome": "generalized"}', 'lacks image_state, changed, failed, message, log_tail, prechecks, steps'),
    (_line(_result(outcome='exploded')), "unknown outcome 'exploded'"),
    (_line(_result(steps='sysprep')), 'steps that is not a list'),
])
def test_a_bad_result_line_is_a_clear_error(line, match):
    with pytest.raises(scripts.ScriptResultError, match=match):
        scripts.parse_result('before\n' + line + '\n')


# --- simulate: the outline of what the script reports, for fakes ----------------------------------------------

@pytest.mark.parametrize('before, after, timed_out, check_mode, name', [
    ('IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', None, False, False, 'unchanged'),
    ('IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', None, False, True, 'unchanged'),
    ('IMAGE_STATE_COMPLETE', None, False, True, 'would_generalize'),
    ('IMAGE_STATE_COMPLETE', 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE', False, False, 'generalized'),
    ('IMAGE_STATE_COMPLETE', 'IMAGE_STATE_UNDEPLOYABLE', True, False, 'timeout'),
    ('IMAGE_STATE_UNDEPLOYABLE', None, False, False, 'precheck_failed'),
    ('IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE', None, False, True, 'precheck_failed'),
    ('', None, False, False, 'precheck_failed'),
] + [('IMAGE_STATE_COMPLETE', state, False, False, 'sysprep_failed') for state in sorted(DOCUMENTED_STATES - {sysprep.GOOD_STATE})]
  + [('IMAGE_STATE_COMPLETE', 'IMAGE_STATE_NOT_DOCUMENTED', False, False, 'sysprep_failed')])
def test_simulate_follows_the_tables(before, after, timed_out, check_mode, name):
    result = sysprep.simulate(before, after, timed_out=timed_out, check_mode=check_mode)
    assert result['outcome'] == name
    assert tuple(result) == sysprep.RESULT_FIELDS
    assert (result['failed'], result['changed']) == (sysprep.RESULTS[name]['failed'], sysprep.RESULTS[name]['changed'])
    assert result['image_state'] == (after if name in ('generalized', 'timeout', 'sysprep_failed') else before)
    assert bool(result['log_tail']) is (name in ('timeout', 'sysprep_failed'))
    if name == 'sysprep_failed':
        assert after in result['message'] and 'log_tail' in result['message']
    if name == 'precheck_failed':
        assert result['prechecks'][0]['status'] == 'failed' and result['prechecks'][0]['message'] in result['message']
    # What the fake sends back parses as the real script's line.
    assert scripts.parse_result('noise\n' + scripts.format_result_line(result) + '\n') == result


if __name__ == '__main__':
    regenerate()
    sys.exit(0)
