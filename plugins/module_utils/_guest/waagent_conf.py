# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""The guest's own ``waagent.conf`` and the distribution rules of the Azure Linux agent.

``WaagentConf`` reads the configuration as the agent does (``azurelinuxagent.common.conf``:
``key=value`` lines not starting with ``#``, the value cut at ``#`` and stripped of quotes and
blanks, ``y``/``n`` switches, the agent's defaults when a key or the file is missing) and says in
words which rule applied. ``distro_profile`` maps ``/etc/os-release`` to what the agent's
``get_deprovision_handler`` and ``get_osutil`` pick for that distribution: the agent's service
name, where its systemd units live, how the hostname and the DHCP ``send host-name`` are reset,
what happens to ``resolv.conf``. The facts come from WALinuxAgent's
``azurelinuxagent/pa/deprovision/{default,factory,ubuntu,arch,coreos}.py`` and
``azurelinuxagent/common/osutil/*.py``.
"""

from __future__ import annotations

import re

DEFAULT_CONF = '/etc/waagent.conf'

# conf.get_* defaults of the agent for the settings deprovisioning reads.
DEFAULTS = {
    'Provisioning.RegenerateSshHostKeyPair': 'n',
    'Provisioning.DeleteRootPassword': 'n',
    'Provisioning.Agent': 'auto',
    'Lib.Dir': '/var/lib/waagent',
    'Extension.LogDir': '/var/log/azure',
    'OS.SshDir': '/etc/ssh',
    'OS.PasswordPath': '/etc/shadow',
    'OS.SudoersDir': '/etc/sudoers.d',
    'OS.HomeDir': '/home',
}
AGENT_LOG = '/var/log/waagent.log'


def parse_conf(text):
    """{key: value} as ConfigurationProvider.load reads it (a value of ``None`` is None)."""
    values = {}
    for line in (text or '').split('\n'):
        if line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        value = value.split('#')[0].strip('" ').strip()
        values[key.strip()] = None if value == 'None' else value
    return values


class WaagentConf(object):
    """The guest's waagent.conf (``found`` False when the image has none)."""

    def __init__(self, values, path=DEFAULT_CONF, found=True):
        self.values = dict(values)
        self.path = path
        self.found = found

    @classmethod
    def load(cls, tree, path=DEFAULT_CONF):
        text = tree.read_or_none(path)
        if text is None:
            return cls({}, path, found=False)
        return cls(parse_conf(text), path, found=True)

    def get(self, key):
        value = self.values.get(key)
        return value if value is not None else DEFAULTS[key]

    def switch(self, key):
        """The agent's get_switch: ``y`` True, ``n`` False, anything else the default."""
        value = (self.values.get(key) or '').lower()
        if value in ('y', 'n'):
            return value == 'y'
        return DEFAULTS[key] == 'y'

    def rule(self, key):
        """In words, where the value of ``key`` came from."""
        value = self.values.get(key)
        if not self.found:
            return "%s=%s (waagent's default: there is no %s in the image)" % (key, DEFAULTS[key], self.path)
        if value is None:
            return "%s=%s (waagent's default: not set in %s)" % (key, DEFAULTS[key], self.path)
        if value.lower() not in ('y', 'n') and DEFAULTS[key] in ('y', 'n'):
            return "%s=%s in %s is not y or n: waagent's default %s" % (key, value, self.path, DEFAULTS[key])
        return '%s=%s in %s' % (key, value, self.path)

    def used(self):
        """The settings deprovisioning reads, with their effective values."""
        return dict((key, self.get(key)) for key in sorted(DEFAULTS))


# --- distributions ----------------------------------------------------------------------------------

def parse_os_release(text):
    values = {}
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1]
        values[key.strip()] = value.replace('\\"', '"')
    return values


def version_tuple(version):
    """'18.04' -> (18, 4); '12' -> (12,); no leading number -> None."""
    match = re.match(r'\s*(\d+(?:\.\d+)*)', version or '')
    return tuple(int(p) for p in match.group(1).split('.')) if match else None


def _at_least(version, minimum):
    found = version_tuple(version)
    return found is None or found >= minimum


RHEL_IDS = ('rhel', 'redhat', 'centos', 'oracle', 'ol', 'almalinux', 'cloudlinux', 'rocky', 'euleros', 'uos')
SUSE_IDS = ('suse', 'sle-micro', 'sle_hpc', 'sles', 'sles_sap', 'opensuse', 'opensuse-leap')
# The id the `distro` library (which the agent uses) reports for an os-release ID.
NORMALIZED = {'ol': 'oracle', 'opensuse-leap': 'opensuse'}


class Profile(object):
    """What the agent does on one distribution (see distro_profile)."""

    def __init__(self, distro_id, version, name, family, handler, osutil, service, unit_dir,
                 hostname='etc-hostname', dhcp_hostname='dhclient', resolv='delete', agent_removes_machine_id=False):
        self.id = distro_id
        self.version = version
        self.name = name
        self.family = family
        self.handler = handler
        self.osutil = osutil
        self.service = service
        self.unit_dir = unit_dir
        self.hostname = hostname
        self.dhcp_hostname = dhcp_hostname
        self.resolv = resolv
        self.agent_removes_machine_id = agent_removes_machine_id

    def as_dict(self):
        return {'id': self.id, 'version': self.version, 'name': self.name, 'family': self.family,
                'waagent_handler': self.handler, 'waagent_osutil': self.osutil, 'waagent_service': self.service}


def read_os_release(tree):
    for path in ('/etc/os-release', '/usr/lib/os-release'):
        text = tree.read_or_none(path)
        if text is not None:
            return parse_os_release(text)
    values = {}
    if tree.exists('/etc/debian_version'):
        values = {'ID': 'debian', 'VERSION_ID': (tree.read_or_none('/etc/debian_version') or '').strip()}
    elif tree.exists('/etc/redhat-release'):
        match = re.search(r'release\s+(\d+(?:\.\d+)*)', tree.read_or_none('/etc/redhat-release') or '')
        values = {'ID': 'rhel', 'VERSION_ID': match.group(1) if match else ''}
    return values


def distro_profile(tree):
    """The Profile of the guest, from its os-release (and the release files the agent checks)."""
    release = read_os_release(tree)
    raw_id = (release.get('ID') or 'unknown').strip('" ').lower()
    distro_id = NORMALIZED.get(raw_id, raw_id)
    if tree.exists('/etc/mariner-release'):
        distro_id = 'mariner'
    if tree.exists('/etc/photon-release'):
        distro_id = 'photonos'
    version = release.get('VERSION_ID', '')
    name = release.get('PRETTY_NAME') or release.get('NAME') or distro_id
    like = (release.get('ID_LIKE') or '').lower().split()
    common = dict(distro_id=distro_id, version=version, name=name)
    usr_lib = '/usr/lib/systemd/system'
    if distro_id == 'ubuntu':
        modern = _at_least(version, (18, 4))
        return Profile(family='ubuntu', handler='Ubuntu1804DeprovisionHandler' if modern else 'UbuntuDeprovisionHandler',
                       osutil='Ubuntu18OSUtil' if modern else 'Ubuntu16OSUtil', service='walinuxagent',
                       unit_dir='/lib/systemd/system', resolv='keep' if modern else 'resolvconf', **common)
    if distro_id in ('debian', 'devuan', 'kali') or (distro_id not in RHEL_IDS + SUSE_IDS and 'debian' in like):
        modern = distro_id != 'kali' and ('sid' in version or _at_least(version, (8,)))
        return Profile(family='debian', handler='DeprovisionHandler',
                       osutil='DebianOSModernUtil' if modern else 'DebianOSBaseUtil',
                       service='walinuxagent' if modern else 'waagent', unit_dir='/lib/systemd/system', **common)
    if distro_id in RHEL_IDS or (distro_id != 'fedora' and ('rhel' in like or 'centos' in like)):
        if version_tuple(version) is not None and version_tuple(version) < (7,):
            return Profile(family='rhel', handler='DeprovisionHandler', osutil='Redhat6xOSUtil', service='waagent',
                           unit_dir='/lib/systemd/system', hostname='sysconfig-network', dhcp_hostname='ifcfg', **common)
        return Profile(family='rhel', handler='DeprovisionHandler',
                       osutil='RedhatOSModernUtil' if _at_least(version, (8, 6)) else 'RedhatOSUtil',
                       service='waagent', unit_dir=usr_lib, dhcp_hostname='ifcfg', **common)
    if distro_id == 'fedora':
        return Profile(family='fedora', handler='DeprovisionHandler', osutil='FedoraOSUtil', service='waagent',
                       unit_dir=usr_lib, **common)
    if distro_id in SUSE_IDS or 'suse' in like:
        old = version_tuple(version) is not None and (
            (distro_id in ('sles', 'suse') and version_tuple(version) < (12,))
            or (distro_id == 'opensuse' and version_tuple(version) < (13, 2)))
        if old:
            return Profile(family='suse', handler='DeprovisionHandler', osutil='SUSE11OSUtil', service='waagent',
                           unit_dir='/lib/systemd/system', hostname='etc-HOSTNAME', **common)
        return Profile(family='suse', handler='DeprovisionHandler', osutil='SUSEOSUtil', service='waagent',
                       unit_dir=usr_lib, dhcp_hostname='suse', **common)
    if distro_id in ('mariner', 'azurelinux'):
        return Profile(family='mariner', handler='DeprovisionHandler', osutil='MarinerOSUtil', service='waagent',
                       unit_dir=usr_lib, **common)
    if distro_id == 'arch':
        return Profile(family='arch', handler='ArchDeprovisionHandler', osutil='ArchUtil', service='waagent',
                       unit_dir=usr_lib, agent_removes_machine_id=True, **common)
    if distro_id in ('flatcar', 'coreos'):
        return Profile(family='coreos', handler='CoreOSDeprovisionHandler', osutil='CoreOSUtil', service='waagent',
                       unit_dir='/lib/systemd/system', agent_removes_machine_id=True, **common)
    if distro_id == 'photonos':
        return Profile(family='photonos', handler='DeprovisionHandler', osutil='PhotonOSUtil', service='waagent',
                       unit_dir=usr_lib, **common)
    return Profile(family='other', handler='DeprovisionHandler', osutil='DefaultOSUtil', service='waagent',
                   unit_dir='/lib/systemd/system', **common)
