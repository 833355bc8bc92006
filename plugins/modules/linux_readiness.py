#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: linux_readiness
short_description: Check inside a Linux guest (or a mounted image of one) that it is prepared for Azure
version_added: 0.1.0
description:
  - Checks Microsoft's "prepare a Linux VHD for Azure" items one by one and reports each in RV(items) with whether it
    is ready and, in words, what was found. Nothing is changed; the module never reports a change.
  - "The checks: C(agent) the Azure Linux agent installed (its binary or the dpkg database) and its service enabled (an
    enablement link under C(/etc/systemd/system/*.wants)); C(provisioning) C(waagent.conf) consistent with O(provisioning)
    (for cloud-init C(Provisioning.Agent=cloud-init) or C(auto), C(ResourceDisk.Format=n), C(ResourceDisk.EnableSwap=n));
    C(cloud_init) cloud-init installed, not disabled and C(datasource_list) starting with C(Azure) (or, when the agent
    provisions, cloud-init disabled or absent); C(initramfs_drivers) the Hyper-V drivers (O(drivers)) in the newest
    initramfs under C(/boot) or built into its kernel; C(kernel_cmdline) O(cmdline_required) present and
    O(cmdline_forbidden) absent in C(/etc/default/grub) and in every generated C(grub.cfg) (or BootLoaderSpec entry);
    C(swap) no swap in C(/etc/fstab) and, on the running system, none active; C(fstab) entries by C(UUID=), C(LABEL=),
    C(PARTUUID=) or another persistent name, none by C(/dev/sdX)-like device names; C(persistent_net_rules) none of
    O(persistent_net_rules) in C(/etc/udev/rules.d); C(time_sync) chrony configured with O(refclock) and enabled,
    C(systemd-timesyncd) not enabled; C(ssh_client_alive) the C(ClientAliveInterval) sshd uses (first value wins,
    C(Include) followed) is O(client_alive_interval); C(ssh_host_keys) the one-shot unit O(ssh_host_key_unit) that runs
    C(ssh-keygen -A) at a boot without host keys is installed and enabled."
  - The initramfs is listed with the guest's own C(lsinitramfs) or C(lsinitrd) when O(root=/) and the guest has it;
    otherwise it is read by the module (cpio, compressed with gzip, xz, lzma or bzip2). When neither can read it (zstd
    or lz4 without the tool), the initramfs configuration (C(/etc/initramfs-tools/modules), dracut's C(add_drivers)) is
    checked instead and the item's detail says so.
  - "Works on the running guest (O(root=/)), inside a chroot (O(root=/) through the C(community.general.chroot)
    connection: the guest is not running, so active swap is not asked) or on a mounted image from the build host (any
    other O(root)); every path is resolved inside O(root), a symlink never leads out of it."
author:
  - vmimage.azure maintainers (@vmimage)
extends_documentation_fragment:
  - vmimage.azure.attributes.info_module
options:
  root:
    description:
      - The guest's root file system. V(/) is the guest the module runs on (the running system, or the tree of a chroot
        connection); any other directory is an offline tree (a mounted image's root partition).
    type: path
    default: /
  online:
    description:
      - Whether the guest is the running system (then active swap is checked too). Unset, it is found out - V(true) when
        O(root=/) and the module is not in a chroot.
    type: bool
  checks:
    description: The items to check, in the order of the list of choices whatever the order given.
    type: list
    elements: str
    choices: [agent, provisioning, cloud_init, initramfs_drivers, kernel_cmdline, swap, fstab, persistent_net_rules,
              time_sync, ssh_client_alive, ssh_host_keys]
    default: [agent, provisioning, cloud_init, initramfs_drivers, kernel_cmdline, swap, fstab, persistent_net_rules,
              time_sync, ssh_client_alive, ssh_host_keys]
  provisioning:
    description: Who provisions VMs made from the image; C(provisioning) and C(cloud_init) check for it.
    type: str
    choices: [cloud-init, agent]
    default: cloud-init
  drivers:
    description: Kernel modules the initramfs must hold (or the kernel have built in); C(-) and C(_) are the same.
    type: list
    elements: str
    default: [hv_vmbus, hv_netvsc, hv_storvsc]
  cmdline_required:
    description: Kernel command-line tokens every boot entry must have.
    type: list
    elements: str
    default: ["console=ttyS0,115200n8", earlyprintk=ttyS0, rootdelay=300]
  cmdline_forbidden:
    description: Kernel command-line tokens no boot entry may have.
    type: list
    elements: str
    default: [rhgb, quiet, crashkernel=auto]
  agent_service:
    description: The agent's systemd unit; unset, C(walinuxagent) or C(waagent) (whichever the distribution names it).
    type: str
  waagent_conf:
    description: Path of the agent's configuration inside the guest.
    type: str
    default: /etc/waagent.conf
  client_alive_interval:
    description: The C(ClientAliveInterval) sshd must use.
    type: int
    default: 180
  refclock:
    description: The start of the chrony C(refclock) line for the Hyper-V PTP clock.
    type: str
    default: refclock PHC /dev/ptp_hyperv
  persistent_net_rules:
    description: udev rule files in C(/etc/udev/rules.d) that must not be in the image.
    type: list
    elements: str
    default: [70-persistent-net.rules, 75-persistent-net-generator.rules, 85-persistent-net-cloud-init.rules]
  ssh_host_key_unit:
    description: The systemd unit under C(/etc/systemd/system) that makes SSH host keys at a boot without them.
    type: str
    default: vmimage-ssh-host-keys.service
notes:
  - Reading some files (C(/etc/shadow) is not among them, but C(/boot) and C(/etc/ssh/sshd_config.d) can be root-only)
    needs root (C(become=true)).
  - The running kernel's C(/proc/cmdline) is not checked (it changes only at the next boot); the boot configuration is.
attributes:
  check_mode:
    details: The module only reads; the only command it runs is the guest's C(lsinitramfs) or C(lsinitrd).
seealso:
  - module: vmimage.azure.linux_deprovision
  - module: vmimage.azure.vhd_info
"""

EXAMPLES = r"""
- name: Is the build VM ready to be captured?
  become: true
  vmimage.azure.linux_readiness:
  register: readiness

- name: Fail with the items that are not ready
  ansible.builtin.assert:
    that: readiness.ready
    fail_msg: "{{ readiness['items'] | rejectattr('ok') | map(attribute='detail') | list }}"

- name: Check a mounted image on the build host, for a Gen2 (NVMe) size, provisioned by the agent
  become: true
  vmimage.azure.linux_readiness:
    root: /mnt/image
    provisioning: agent
    drivers: [hv_vmbus, hv_netvsc, hv_storvsc, nvme]
    checks: [agent, provisioning, cloud_init, initramfs_drivers, kernel_cmdline, fstab]
"""

RETURN = r"""
ready:
  description: Whether every item checked is ready.
  returned: always
  type: bool
  sample: false
root:
  description: The root file system checked.
  returned: always
  type: str
  sample: /
online:
  description: Whether the guest was the running system (active swap was then checked).
  returned: always
  type: bool
items:
  description:
    - Every item checked, in a fixed order.
    - In Jinja write C(result['items']) - C(result.items) is the dictionary's own method.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The item (one of O(checks)).
      type: str
      sample: initramfs_drivers
    ok:
      description: Whether it is ready.
      type: bool
    detail:
      description: What is wrong (first) and what was found, in words.
      type: str
      sample: /boot/initrd.img-6.1.0-50-cloud-amd64 (read with lsinitramfs) has hv_vmbus, hv_netvsc, hv_storvsc
not_ready:
  description: The names of the items that are not ready.
  returned: always
  type: list
  elements: str
  sample: [kernel_cmdline]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmimage.azure.plugins.module_utils._guest import readiness as service
from ansible_collections.vmimage.azure.plugins.module_utils._guest.host import Host

ARGSPEC = dict(
    root=dict(type='path', default='/'),
    online=dict(type='bool'),
    checks=dict(type='list', elements='str', default=list(service.CHECKS), choices=list(service.CHECKS)),
    provisioning=dict(type='str', default='cloud-init', choices=['cloud-init', 'agent']),
    drivers=dict(type='list', elements='str', default=list(service.DRIVERS)),
    cmdline_required=dict(type='list', elements='str', default=list(service.CMDLINE_REQUIRED)),
    cmdline_forbidden=dict(type='list', elements='str', default=list(service.CMDLINE_FORBIDDEN)),
    agent_service=dict(type='str'),
    waagent_conf=dict(type='str', default='/etc/waagent.conf'),
    client_alive_interval=dict(type='int', default=180),
    refclock=dict(type='str', default=service.REFCLOCK),
    persistent_net_rules=dict(type='list', elements='str', default=list(service.PERSISTENT_NET_RULES)),
    ssh_host_key_unit=dict(type='str', default=service.SSH_HOST_KEY_UNIT, no_log=False),
)


def main():
    module = AnsibleModule(argument_spec=ARGSPEC, supports_check_mode=True)
    host = Host(run=lambda argv: module.run_command(argv, check_rc=False))
    try:
        result = service.run(module.params, host=host)
    except Exception as exc:  # the module's main(): the one place exceptions become failures
        module.fail_json(msg=str(exc), code=getattr(exc, 'code', 'error'))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
