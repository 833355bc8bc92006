#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: linux_deprovision
short_description: Deprovision a Linux guest (or a mounted image of one) before it becomes an Azure image
version_added: 0.1.0
description:
  - Resets what C(waagent -force -deprovision) resets, following the guest's own C(waagent.conf) and the Azure
    Linux agent's rules for its distribution, and also what the agent leaves behind and images then carry. Each
    step is reported in RV(steps) with what it removed and wrote and the rule that applied.
  - "The steps: the agent service stopped (online only); SSH host keys (when C(Provisioning.RegenerateSshHostKeyPair=y)
    or O(ssh_host_keys=remove)); DHCP leases, NetworkManager's C(internal-*.lease) included; the static hostname set to
    C(localhost.localdomain) (files only, the running hostname is never set) and the build VM's name taken off the
    C(127.0.1.1) line of C(/etc/hosts); the dhclient C(send host-name) (or C(DHCP_HOSTNAME) of existing ifcfg files, never
    a new one); the root password locked in C(/etc/shadow) (when C(Provisioning.DeleteRootPassword=y) or
    O(root_password=lock)); C(/var/lib/waagent), C(/var/log/azure) and C(waagent.log); C(resolv.conf) as the agent treats
    it on that distribution (Ubuntu 18.04 and later keep it, a symlink is kept); the agent's firewall-setup unit and
    cgroup drop-ins; C(/etc/machine-id) and C(/var/lib/dbus/machine-id) emptied (not deleted); cloud-init's state and
    logs, as C(cloud-init clean --logs); every user's shell history; C(/tmp) and C(/var/tmp); udev's persistent-net
    rules; the provisioning user (O(user)); a delayed shutdown (O(shutdown))."
  - "Online (O(root=/), on the guest itself, with C(become)) or offline (O(root) where the image's root file system is
    mounted, or a chroot tree): the same logic. Offline nothing runs and nothing is started; only files of the tree are
    read and changed. Every path is resolved inside O(root) (an absolute symlink in the image starts again at O(root));
    a symlink whose target is not in the image is not read or changed but reported in RV(refused); a file system of
    the build host mounted inside O(root) (a bind mount of C(/tmp), C(/dev)...) is never entered."
  - Removing the user the play is connected as (C(SUDO_USER), the session's login uid, the ssh session of the module,
    C(LOGNAME)) would cut the play off, so that removal is deferred to the next shutdown by a one-shot systemd unit under
    C(/run) (never part of the image); O(shutdown=true) schedules that shutdown. The result says so in RV(deferred).
  - Idempotent; a second run reports no change. Check mode lists what would be removed and written and changes nothing
    (it only reads files and asks C(systemctl is-active)).
author:
  - vmimage.azure maintainers (@vmimage)
extends_documentation_fragment:
  - vmimage.azure.attributes
options:
  root:
    description:
      - The guest's root file system. V(/) works on the running guest; any other directory is an offline tree (a mounted
        image's root partition, with C(/usr) and C(/var) mounted below it where they are separate).
    type: path
    default: /
  user:
    description:
      - The provisioning user to remove, with its home, mail spool, crontab, own group, sudoers rules (C(waagent),
        C(90-cloud-init-users)) and lines in the shadow-utils backups (C(/etc/passwd-)...), like C(waagent -deprovision+user).
      - Offline the account files of the tree are edited. Online C(userdel -r) removes it, or, when it is the user this
        play is connected as, a one-shot unit does at the next shutdown.
      - Never V(root) or an account with uid 0.
    type: str
  shutdown:
    description:
      - Power the guest off O(shutdown_delay) seconds after the module returns, so that the play finishes (which also
        completes a deferred user removal). Online only; with an offline O(root) it is an error.
    type: bool
    default: false
  shutdown_delay:
    description: Seconds between the end of the module and the shutdown O(shutdown) schedules.
    type: int
    default: 60
  ssh_host_keys:
    description:
      - V(auto) follows C(Provisioning.RegenerateSshHostKeyPair) of the guest's C(waagent.conf) (the agent's default C(n)
        when it is not set or there is no such file); V(remove) and V(keep) override it.
    type: str
    choices: [auto, remove, keep]
    default: auto
  root_password:
    description:
      - V(auto) follows C(Provisioning.DeleteRootPassword) of the guest's C(waagent.conf) (default C(n)); V(lock) and V(keep)
        override it. Locking sets root's password field to C(*LOCK*), as the agent does, in C(/etc/shadow) and its backup.
    type: str
    choices: [auto, lock, keep]
    default: auto
  waagent_conf:
    description: Path of the agent's configuration inside the guest.
    type: str
    default: /etc/waagent.conf
  skip:
    description: Steps not to run (reported as skipped).
    type: list
    elements: str
    default: []
    choices: [agent_service, ssh_host_keys, dhcp_leases, hostname, dhcp_hostname, root_password, waagent_state,
              resolv_conf, firewall_unit, cgroup_drop_ins, machine_id, cloud_init, shell_history, tmp,
              udev_persistent_net, user, shutdown]
notes:
  - Deprovisioning is meant to be the last thing done to a guest before it is captured; the VM is not fit for further
    use afterwards (its host keys, machine id and, with O(user), its login may be gone).
  - Online it needs root (C(become=true)).
attributes:
  check_mode:
    details: Files are only read; the only command run is C(systemctl is-active).
  diff_mode:
    details: Password hashes are shown as C(<hash>).
seealso:
  - module: vmimage.azure.vhd
"""

EXAMPLES = r"""
- name: Deprovision the build VM and remove the user Ansible is connected as, then power it off
  become: true
  vmimage.azure.linux_deprovision:
    user: azureuser
    shutdown: true

- name: Deprovision a mounted image offline (on the build host)
  become: true
  vmimage.azure.linux_deprovision:
    root: /mnt/debian-12
    user: builder

- name: See what would be removed
  vmimage.azure.linux_deprovision:
    root: /mnt/debian-12
  check_mode: true
  register: plan

- name: Keep the host keys whatever waagent.conf says, and leave /tmp alone
  become: true
  vmimage.azure.linux_deprovision:
    ssh_host_keys: keep
    skip: [tmp]
"""

RETURN = r"""
root:
  description: The root file system worked on (V(/) online).
  returned: always
  type: str
  sample: /mnt/debian-12
online:
  description: Whether the guest was the running system.
  returned: always
  type: bool
distro:
  description: The distribution found in the guest's C(os-release) and what the agent's rules are for it.
  returned: always
  type: dict
  contains:
    id:
      description: The distribution id as the agent reads it.
      type: str
      sample: debian
    version:
      description: C(VERSION_ID).
      type: str
      sample: '12'
    name:
      description: C(PRETTY_NAME).
      type: str
    family:
      description: V(debian), V(ubuntu), V(rhel), V(fedora), V(suse), V(mariner), V(arch), V(coreos), V(photonos) or V(other).
      type: str
    waagent_handler:
      description: The agent's deprovision handler for the distribution.
      type: str
      sample: DeprovisionHandler
    waagent_osutil:
      description: The agent's OS utility class for the distribution.
      type: str
      sample: DebianOSModernUtil
    waagent_service:
      description: The agent's service name there.
      type: str
      sample: walinuxagent
waagent_conf:
  description: The guest's agent configuration.
  returned: always
  type: dict
  contains:
    path:
      description: Its path in the guest.
      type: str
    found:
      description: Whether the image has it (otherwise the agent's defaults apply).
      type: bool
    settings:
      description: The settings deprovisioning reads, with their effective values.
      type: dict
steps:
  description: Every step, in order, with what it did (or in check mode would do).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The step.
      type: str
      sample: ssh_host_keys
    changed:
      description: Whether it changed (would change) anything.
      type: bool
    removed:
      description: Guest paths removed (a directory with its contents).
      type: list
      elements: str
    written:
      description: Guest paths rewritten, emptied or created.
      type: list
      elements: str
    refused:
      description: Entries left untouched, with why (a symlink out of the image, a file system of the host mounted there...).
      type: list
      elements: dict
    kept:
      description: Entries deliberately kept, with why.
      type: list
      elements: dict
      returned: when some were
    commands:
      description: Commands run (online only).
      type: list
      elements: str
      returned: when some were
    deferred:
      description: True when the user removal waits for the next shutdown.
      type: bool
      returned: when deferred
    rule:
      description: The rule that applied (the C(waagent.conf) setting and its source, the agent's handler, the option).
      type: str
      sample: Provisioning.RegenerateSshHostKeyPair=y in /etc/waagent.conf
    why:
      description: What the step does and why, in words.
      type: str
removed:
  description: All guest paths removed, in order.
  returned: always
  type: list
  elements: str
refused:
  description: All entries refused, with why.
  returned: always
  type: list
  elements: dict
deferred:
  description: What was deferred to the next shutdown (the connected user's removal), in words; empty when nothing was.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmimage.azure.plugins.module_utils._guest import deprovision as service
from ansible_collections.vmimage.azure.plugins.module_utils._guest.host import Host

ARGSPEC = dict(
    root=dict(type='path', default='/'),
    user=dict(type='str'),
    shutdown=dict(type='bool', default=False),
    shutdown_delay=dict(type='int', default=60),
    ssh_host_keys=dict(type='str', default='auto', choices=['auto', 'remove', 'keep']),
    root_password=dict(type='str', default='auto', choices=['auto', 'lock', 'keep'], no_log=False),
    waagent_conf=dict(type='str', default='/etc/waagent.conf'),
    skip=dict(type='list', elements='str', default=[], choices=list(service.STEPS)),
)


def main():
    module = AnsibleModule(argument_spec=ARGSPEC, supports_check_mode=True)
    host = Host(run=lambda argv: module.run_command(argv, check_rc=False))
    try:
        result = service.run(module.params, check_mode=module.check_mode, host=host)
    except Exception as exc:  # the module's main(): the one place exceptions become failures
        module.fail_json(msg=str(exc), code=getattr(exc, 'code', 'error'))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
