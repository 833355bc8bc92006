# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""prepare_linux's per-family facts and templates, rendered with Jinja2 for every family.

The distributions whose mirrors are not reachable here (Ubuntu, RHEL and its rebuilds, Oracle Linux,
SLES / openSUSE, Azure Linux) are covered by these renders; Debian 12 also runs for real in
tests/integration/test_prepare_linux_chroot.py. The vars file a distribution gets is worked out with the
role's own first_found lists (read from tasks/main.yml and rendered with the facts Ansible gives that
distribution), then every template is rendered with defaults/main.yml, vars/main.yml and that family's
files, the way the role's tasks use them.
"""

from __future__ import annotations

import base64
import configparser
import json
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import FilterModule as CoreFilters
from ansible.plugins.test.core import TestModule as CoreTests

ROLE = Path(__file__).resolve().parents[3] / 'roles' / 'prepare_linux'

# (distribution, os_family, major) as ansible-core's distribution facts give them -> (vars file, release file).
# Azure Linux is in no OS_FAMILY_MAP entry: distribution and os_family are os-release's NAME.
DISTRIBUTIONS = {
    'debian12': (('Debian', 'Debian', '12'), ('Debian', None)),
    'ubuntu2404': (('Ubuntu', 'Debian', '24'), ('Ubuntu', None)),
    'rhel8': (('RedHat', 'RedHat', '8'), ('RedHat', None)),
    'rhel9': (('RedHat', 'RedHat', '9'), ('RedHat', 'RedHat-9')),
    'alma9': (('AlmaLinux', 'RedHat', '9'), ('RedHat', 'RedHat-9')),
    'rocky9': (('Rocky', 'RedHat', '9'), ('RedHat', 'RedHat-9')),
    'centos-stream10': (('CentOS', 'RedHat', '10'), ('RedHat', 'RedHat-10')),
    'oracle8': (('OracleLinux', 'RedHat', '8'), ('OracleLinux', None)),
    'oracle9': (('OracleLinux', 'RedHat', '9'), ('OracleLinux', 'RedHat-9')),
    'sles15': (('SLES', 'Suse', '15'), ('SLES', None)),
    'sles-sap15': (('SLES_SAP', 'Suse', '15'), ('SLES', None)),
    'opensuse-leap15': (('openSUSE Leap', 'Suse', '15'), ('Suse', None)),
    'azurelinux3': (('Microsoft Azure Linux', 'Microsoft Azure Linux', '3'), ('AzureLinux', None)),
    'mariner2': (('Common Base Linux Mariner', 'Common Base Linux Mariner', '2'), ('AzureLinux', None)),
}

# What each family must get (Microsoft's per-distribution preparation pages).
EXPECTED = {
    'Debian': dict(agent=('waagent', 'walinuxagent.service'), tool='initramfs-tools', regen=['update-initramfs', '-u', '-k', 'all'],
                   grub=[['update-grub']], chrony=('/etc/chrony/chrony.conf', 'chrony.service'), sshd='ssh.service', network=True),
    'Ubuntu': dict(agent=('walinuxagent', 'walinuxagent.service'), tool='initramfs-tools', regen=['update-initramfs', '-u', '-k', 'all'],
                   grub=[['update-grub']], chrony=('/etc/chrony/chrony.conf', 'chrony.service'), sshd='ssh.service', network=True),
    'RedHat': dict(agent=('WALinuxAgent', 'waagent.service'), tool='dracut', regen=['dracut', '-f', '--regenerate-all'],
                   grub=[['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg']], chrony=('/etc/chrony.conf', 'chronyd.service'),
                   sshd='sshd.service', network=False),
    'OracleLinux': dict(agent=('WALinuxAgent', 'waagent.service'), tool='dracut', regen=['dracut', '-f', '--regenerate-all'],
                        grub=[['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg']], chrony=('/etc/chrony.conf', 'chronyd.service'),
                        sshd='sshd.service', network=False),
    'SLES': dict(agent=('python-azure-agent', 'waagent.service'), tool='dracut', regen=['dracut', '-f', '--regenerate-all'],
                 grub=[['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg']], chrony=('/etc/chrony.conf', 'chronyd.service'),
                 sshd='sshd.service', network=False),
    'Suse': dict(agent=('WALinuxAgent', 'waagent.service'), tool='dracut', regen=['dracut', '-f', '--regenerate-all'],
                 grub=[['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg']], chrony=('/etc/chrony.conf', 'chronyd.service'),
                 sshd='sshd.service', network=False),
    'AzureLinux': dict(agent=('WALinuxAgent', 'waagent.service'), tool='dracut', regen=['dracut', '-f', '--regenerate-all'],
                       grub=[['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg']], chrony=('/etc/chrony.conf', 'chronyd.service'),
                       sshd='sshd.service', network=False),
}
BLS = [['grub2-mkconfig', '-o', '/boot/grub2/grub.cfg', '--update-bls-cmdline']]

# /etc/default/grub as each family ships it (the lines that matter).
GRUB_DEFAULTS = {
    'Debian': 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n',
    'Ubuntu': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\nGRUB_CMDLINE_LINUX="net.ifnames=0"\n',
    'RedHat': 'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="crashkernel=auto resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rhgb quiet net.ifnames=0"\n'
              'GRUB_DISABLE_RECOVERY="true"\nGRUB_ENABLE_BLSCFG=true\n',
    'OracleLinux': "GRUB_CMDLINE_LINUX='crashkernel=auto rd.lvm.lv=ol/root rhgb quiet'\n",
    'SLES': 'GRUB_CMDLINE_LINUX_DEFAULT="splash=silent mitigations=auto quiet security=apparmor"\nGRUB_CMDLINE_LINUX=""\n',
    'Suse': 'GRUB_CMDLINE_LINUX_DEFAULT="splash=silent preempt=full mitigations=auto quiet security=apparmor"\nGRUB_CMDLINE_LINUX=""\n',
    'AzureLinux': 'GRUB_CMDLINE_LINUX="rd.auto=1 net.ifnames=0 lockdown=integrity"\n',
}
ADD = ['console=ttyS0,115200n8', 'earlyprintk=ttyS0', 'rootdelay=300']


def environment():
    """Jinja2 with ansible-core's own filters and tests (bool, combine, to_json, regex_escape, search...)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / 'templates')), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters.update(CoreFilters().filters())
    env.tests.update(CoreTests().tests())
    return env


def load(name):
    with open(str(ROLE / name), encoding='utf-8') as handle:
        return yaml.safe_load(handle) or {}


def family_files(distribution, os_family, major):
    """The files tasks/main.yml's first_found lists pick, rendered with Jinja2 as the role renders them."""
    tasks = load('tasks/main.yml')
    env = environment()
    facts = {'ansible_facts': {'distribution': distribution, 'os_family': os_family, 'distribution_major_version': major},
             'prepare_linux__distribution_names': load('vars/main.yml')['prepare_linux__distribution_names'], 'role_path': str(ROLE)}

    def first(task_name, list_var):
        task = [t for t in tasks if t['name'].startswith(task_name)][0]
        ctx = dict(facts)
        ctx['prepare_linux__name'] = env.from_string(task['vars']['prepare_linux__name']).render(**ctx)
        for pattern in task['vars'][list_var]['files']:
            name = env.from_string(pattern).render(**ctx)
            if (ROLE / 'vars' / name).is_file():
                return name[:-len('.yml')]
        return None

    return first("Load the family's facts", 'prepare_linux__family_files'), first("Load the release's", 'prepare_linux__release_files')


def role_vars(key, **overrides):
    (distribution, os_family, major), _expected = DISTRIBUTIONS[key]
    base, release = family_files(distribution, os_family, major)
    values = dict(load('defaults/main.yml'))
    values.update(load('vars/main.yml'))
    values.update(load('vars/%s.yml' % base))
    if release:
        values.update(load('vars/%s.yml' % release))
    values.update(overrides)
    return base, release, values


def render(name, values):
    return environment().get_template(name).render(**values)


@pytest.mark.parametrize('key', sorted(DISTRIBUTIONS))
def test_vars_file_chosen_by_first_found(key):
    facts, expected = DISTRIBUTIONS[key]
    assert family_files(*facts) == expected


def test_every_family_file_has_every_fact():
    keys = set(load('vars/Debian.yml'))
    for name in EXPECTED:
        assert set(load('vars/%s.yml' % name)) == keys, name
    for overlay in ('RedHat-9', 'RedHat-10'):
        assert set(load('vars/%s.yml' % overlay)) == {'prepare_linux__grub_commands'}


@pytest.mark.parametrize('key', sorted(DISTRIBUTIONS))
def test_family_facts(key):
    base, release, values = role_vars(key)
    want = EXPECTED[base]
    assert (values['prepare_linux__agent_package'], values['prepare_linux__agent_service']) == want['agent']
    assert values['prepare_linux__cloud_init_package'] == 'cloud-init'
    assert values['prepare_linux__initramfs_tool'] == want['tool']
    assert values['prepare_linux__initramfs_command'] == want['regen']
    assert values['prepare_linux__initramfs_config'] == (
        '/etc/initramfs-tools/modules' if want['tool'] == 'initramfs-tools' else '/etc/dracut.conf.d/91-vmimage-azure.conf')
    assert values['prepare_linux__grub_commands'] == (BLS if release else want['grub'])
    assert values['prepare_linux__grub_cfg'] == ('/boot/grub/grub.cfg' if want['tool'] == 'initramfs-tools' else '/boot/grub2/grub.cfg')
    assert (values['prepare_linux__chrony_conf'], values['prepare_linux__chrony_service']) == want['chrony']
    assert values['prepare_linux__sshd_service'] == want['sshd']
    assert values['prepare_linux__package_query'] == ('dpkg' if want['tool'] == 'initramfs-tools' else 'rpm')
    assert values['prepare_linux_chrony_refclock'] == 'refclock PHC /dev/ptp_hyperv poll 3 dpoll -2 offset 0 stratum 2'
    assert values['prepare_linux_drivers'] == ['hv_vmbus', 'hv_netvsc', 'hv_storvsc']
    assert values['prepare_linux_cmdline_add'] == ADD
    assert values['prepare_linux_cmdline_remove'] == ['rhgb', 'quiet', 'crashkernel=auto']


def cmdline(values, text):
    return json.loads(render('grub_cmdline.j2', dict(values, prepare_linux__grub_text=text)))


@pytest.mark.parametrize('key', sorted(DISTRIBUTIONS))
def test_kernel_command_line(key):
    base, _release, values = role_vars(key)
    before = GRUB_DEFAULTS[base]
    result = cmdline(values, before)
    linux, default = result['linux'].split(), (result['linux_default'] or '').split()
    removed = ['rhgb', 'quiet', 'crashkernel=auto'] + values['prepare_linux__cmdline_remove_extra']
    assert not set(removed) & set(linux + default)
    skip = values['prepare_linux__cmdline_skip_names']
    for token in ADD:
        if token.split('=', maxsplit=1)[0] in skip:
            assert token not in linux + default  # e.g. rootdelay on Debian (initramfs-tools sleeps all of it)
            continue
        assert (linux + default).count(token) == 1
        assert token in linux  # in GRUB_CMDLINE_LINUX, which every entry gets
    # every other token survives, in its order
    kept = [t for t in before.replace("'", '"').split('GRUB_CMDLINE_LINUX="', 1)[-1].split('"', 1)[0].split() if t not in removed]
    assert linux[:len(kept)] == kept
    assert (result['linux_default'] is None) == ('GRUB_CMDLINE_LINUX_DEFAULT' not in before)
    # idempotent: the same result from the file as the role writes it
    after = 'GRUB_CMDLINE_LINUX="%s"\n' % result['linux']
    if result['linux_default'] is not None:
        after += 'GRUB_CMDLINE_LINUX_DEFAULT="%s"\n' % result['linux_default']
    assert cmdline(values, after) == result


def test_kernel_command_line_details():
    _base, _release, values = role_vars('debian12')
    result = cmdline(values, 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="net.ifnames=0 console=tty0"\n')
    # Debian takes no rootdelay (its initramfs sleeps the whole delay); one already there is kept
    assert result == {'linux': 'net.ifnames=0 console=tty0 console=ttyS0,115200n8 earlyprintk=ttyS0', 'linux_default': ''}
    assert cmdline(values, 'GRUB_CMDLINE_LINUX="rootdelay=30"\n')['linux'] == 'rootdelay=30 console=ttyS0,115200n8 earlyprintk=ttyS0'
    _base, _release, values = role_vars('rhel9')
    result = cmdline(values, 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="net.ifnames=0 console=tty0"\n')
    assert result == {'linux': 'net.ifnames=0 console=tty0 console=ttyS0,115200n8 earlyprintk=ttyS0 rootdelay=300', 'linux_default': ''}
    # a token already in GRUB_CMDLINE_LINUX_DEFAULT is not added again; the last assignment counts
    result = cmdline(values, 'GRUB_CMDLINE_LINUX="a"\nGRUB_CMDLINE_LINUX="b rhgb"\nGRUB_CMDLINE_LINUX_DEFAULT="rootdelay=300"\n')
    assert result == {'linux': 'b console=ttyS0,115200n8 earlyprintk=ttyS0', 'linux_default': 'rootdelay=300'}
    # no GRUB_CMDLINE_LINUX at all: one is made
    assert cmdline(values, 'GRUB_TIMEOUT=5\n') == {'linux': ' '.join(ADD), 'linux_default': None}
    # NVMe sizes get the I/O timeout too
    _base, _release, values = role_vars('rhel9', prepare_linux_nvme=True)
    assert cmdline(values, 'GRUB_CMDLINE_LINUX=""\n')['linux'].split()[-1] == 'nvme_core.io_timeout=240'


@pytest.mark.parametrize('key', sorted(DISTRIBUTIONS))
@pytest.mark.parametrize('nvme', [False, True])
def test_dracut_configuration(key, nvme):
    base, _release, values = role_vars(key, prepare_linux_nvme=nvme)
    drivers = values['prepare_linux_drivers'] + (values['prepare_linux_nvme_drivers'] if nvme else [])
    text = render('dracut.conf.j2', dict(values, prepare_linux__initramfs_drivers=drivers))
    lines = [line for line in text.splitlines() if not line.startswith('#')]
    assert lines == ['add_drivers+=" %s "' % ' '.join(drivers)]
    assert ('nvme nvme_core' in lines[0]) == nvme
    if EXPECTED[base]['tool'] == 'initramfs-tools':
        assert values['prepare_linux__initramfs_config'] == '/etc/initramfs-tools/modules'  # one driver a line (lineinfile)


@pytest.mark.parametrize('key', sorted(DISTRIBUTIONS))
def test_cloud_init_datasource(key):
    base, _release, values = role_vars(key)
    config = yaml.safe_load(render('cloud_init_datasource.cfg.j2', values))
    assert config == {'datasource_list': ['Azure'], 'datasource': {'Azure': {'apply_network_config': EXPECTED[base]['network']}}}
    assert values['prepare_linux__cloud_init_cfg'] == '/etc/cloud/cloud.cfg.d/91-vmimage-azure.cfg'


@pytest.mark.parametrize('key', sorted(DISTRIBUTIONS))
def test_waagent_settings(key):
    _base, _release, values = role_vars(key)
    assert json.loads(render('waagent_settings.j2', values)) == {
        'Provisioning.Agent': 'cloud-init', 'ResourceDisk.Format': 'n', 'ResourceDisk.EnableSwap': 'n'}
    agent = dict(values, prepare_linux_provisioning='agent', prepare_linux_waagent_settings={
        'ResourceDisk.EnableSwap': True, 'ResourceDisk.SwapSizeMB': 2048, 'OS.EnableFirewall': False})
    assert json.loads(render('waagent_settings.j2', agent)) == {
        'Provisioning.Agent': 'waagent', 'ResourceDisk.Format': 'y', 'ResourceDisk.EnableSwap': 'y',
        'ResourceDisk.SwapSizeMB': '2048', 'OS.EnableFirewall': 'n'}


@pytest.mark.parametrize('key', sorted(DISTRIBUTIONS))
def test_sshd_and_host_key_unit(key):
    _base, _release, values = role_vars(key)
    lines = [line for line in render('sshd_dropin.conf.j2', values).splitlines() if not line.startswith('#')]
    assert lines == ['ClientAliveInterval 180']
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str
    unit.read_string(render('vmimage-ssh-host-keys.service.j2', values))
    assert unit['Unit']['ConditionPathExistsGlob'] == '!/etc/ssh/ssh_host_*_key'
    assert {'ssh.service', 'sshd.service'} <= set(unit['Unit']['Before'].split())
    assert values['prepare_linux__sshd_service'] in unit['Unit']['Before'].split()
    assert unit['Service']['Type'] == 'oneshot' and unit['Service']['ExecStart'] == '/usr/bin/ssh-keygen -A'
    assert unit['Install']['WantedBy'] == 'multi-user.target'
    assert values['prepare_linux__ssh_host_key_unit'] == 'vmimage-ssh-host-keys.service'


def set_lines(text, lines, style):
    return json.loads(render('set_lines.j2', {'prepare_linux__text': text, 'prepare_linux__lines': lines, 'prepare_linux__style': style}))


def test_set_lines_assign():
    text = '# GRUB_TIMEOUT=9 (a comment is not a setting)\nGRUB_TIMEOUT=5\nGRUB_DEFAULT=0\n  GRUB_TIMEOUT = 7\nGRUB_TIMEOUTX=3\n'
    # the last line that sets the key is replaced; a missing key is appended; nothing else moves
    assert set_lines(text, {'GRUB_TIMEOUT': '1', 'GRUB_TERMINAL': '"serial console"'}, 'assign') == (
        '# GRUB_TIMEOUT=9 (a comment is not a setting)\nGRUB_TIMEOUT=5\nGRUB_DEFAULT=0\nGRUB_TIMEOUT=1\nGRUB_TIMEOUTX=3\n'
        'GRUB_TERMINAL="serial console"\n')
    # a dot in a key is a dot, not any character
    conf = 'ResourceDiskXFormat=y\nResourceDisk.Format=y\n'
    assert set_lines(conf, {'ResourceDisk.Format': 'n'}, 'assign') == 'ResourceDiskXFormat=y\nResourceDisk.Format=n\n'
    # nothing to change: the text comes back byte for byte (no newline added, no line ending rewritten)
    for same in ('A=1\nB=2', 'A=1\r\nB=2\r\n', 'B=2\nA=1\n'):
        assert set_lines(same, {'A': '1', 'B': '2'}, 'assign') == same
    # an empty or missing file gets the lines; a text without its last newline gets one before the new line
    assert set_lines('', [{'key': 'A', 'line': 'A=1'}], 'assign') == 'A=1\n'
    assert set_lines('B=2', {'A': '1'}, 'assign') == 'B=2\nA=1\n'
    # applied twice, the same text: idempotent
    once = set_lines(text, {'GRUB_TIMEOUT': '1', 'GRUB_TERMINAL': '"serial console"'}, 'assign')
    assert set_lines(once, {'GRUB_TIMEOUT': '1', 'GRUB_TERMINAL': '"serial console"'}, 'assign') == once


def test_set_lines_word():
    modules = '# List of modules\nloop\nhv_vmbus  # already\n'
    assert set_lines(modules, ['hv_vmbus', 'hv_netvsc', 'hv_storvsc'], 'word') == (
        '# List of modules\nloop\nhv_vmbus\nhv_netvsc\nhv_storvsc\n')
    assert set_lines('hv_vmbus_extra\n', ['hv_vmbus'], 'word') == 'hv_vmbus_extra\nhv_vmbus\n'  # a name is a whole word
    chrony = 'pool 2.debian.pool.ntp.org iburst\nrefclock  PHC /dev/ptp_hyperv poll 3\nmakestep 1 3\n'
    refclock = 'refclock PHC /dev/ptp_hyperv poll 3 dpoll -2 offset 0 stratum 2'
    assert set_lines(chrony, [{'key': 'refclock PHC /dev/ptp_hyperv', 'line': refclock}], 'word').splitlines() == [
        'pool 2.debian.pool.ntp.org iburst', refclock, 'makestep 1 3']


def survey(items, query='dpkg'):
    """files/survey.sh run for real on this machine, its output read by templates/survey.j2."""
    script = (ROLE / 'files' / 'survey.sh').read_text()
    proc = subprocess.run(['sh', '-c', script, 'sh', query] + items, capture_output=True, text=True, check=True, timeout=60)
    return json.loads(render('survey.j2', {'prepare_linux__survey_lines': proc.stdout.splitlines()}))


def test_survey(tmp_path):
    conf = tmp_path / 'has space.conf'
    conf.write_bytes(b'A=1\n\xc3\xa9\n')
    empty = tmp_path / 'empty'
    empty.write_bytes(b'')
    (tmp_path / 'dangling').symlink_to(tmp_path / 'nowhere')  # e.g. a persistent-net rule linked to a file gone
    result = survey(['pkg:dpkg', 'pkg:vmimage-azure-no-such-package', 'unit:vmimage-azure-no-such.service',
                     'path:%s' % conf, 'path:%s' % (tmp_path / 'missing'), 'path:%s' % tmp_path, 'path:%s' % (tmp_path / 'dangling'),
                     'file:%s' % conf, 'file:%s' % empty, 'file:%s' % (tmp_path / 'missing'), 'file:%s' % tmp_path, 'swap:'])
    assert result['installed'] == {'dpkg': True, 'vmimage-azure-no-such-package': False}
    assert result['units'] == {'vmimage-azure-no-such.service': ''} and result['enabled'] == []
    assert result['exists'] == {str(conf): True, str(tmp_path / 'missing'): False, str(tmp_path): True, str(tmp_path / 'dangling'): True}
    # regular files only, read whole (a name with a space, UTF-8, an empty file)
    assert result['files'] == {str(conf): 'A=1\n\u00e9\n', str(empty): ''}
    with open('/proc/swaps', encoding='utf-8') as handle:
        active = [line.split()[0] for line in handle.read().splitlines()[1:] if line.strip()]
    assert result['swap'] == active
    with pytest.raises(subprocess.CalledProcessError):
        survey(['bogus:1'])


def test_survey_reads_units_and_states():
    lines = ['unit enabled a.service', 'unit disabled b.service', 'unit  c.service', 'unit static d.service',
             'swap %s -' % base64.b64encode(b'/dev/sdb2\n/swapfile\n').decode()]
    result = json.loads(render('survey.j2', {'prepare_linux__survey_lines': lines}))
    assert result['units'] == {'a.service': 'enabled', 'b.service': 'disabled', 'c.service': '', 'd.service': 'static'}
    assert result['enabled'] == ['a.service'] and result['swap'] == ['/dev/sdb2', '/swapfile']


def test_every_template_is_rendered_here():
    tested = {'grub_cmdline.j2', 'dracut.conf.j2', 'cloud_init_datasource.cfg.j2', 'waagent_settings.j2', 'sshd_dropin.conf.j2',
              'vmimage-ssh-host-keys.service.j2', 'set_lines.j2', 'survey.j2'}
    assert {p.name for p in (ROLE / 'templates').iterdir()} == tested
