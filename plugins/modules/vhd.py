#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vhd
short_description: Make a disk image an Azure-ready fixed VHD
version_added: 0.1.0
description:
  - Turns a disk image into a fixed VHD whose virtual size is a whole number of MiB, the form
    Azure accepts for page blob upload, managed disks and images.
  - A raw image gets a VHD footer appended in place; the file first grows sparsely to the next
    1 MiB boundary, so no data is copied and the run takes constant time whatever the size.
  - A fixed VHD whose size is not a whole number of MiB, or whose footer readers would size
    differently, is realigned in place (old footer cut off, file grown sparsely, new footer).
  - qcow2, VMDK, VHDX and dynamic VHD images are converted with
    C(qemu-img convert) into a temporary file next to the target, which then replaces the target;
    nothing half-made is left under the target name.
  - A differencing VHD is refused, because part of its data lives in its parent, which C(qemu-img) would
    leave out. Merge it into its parent first.
  - An image that is already an aligned fixed VHD is left alone (C(changed=false)).
  - Nothing is written when the input is bad (missing, empty, not whole sectors, damaged footer,
    truncated, rejected by C(qemu-img)), when O(dest) exists, or when the target is not writable.
author:
  - vmimage.azure maintainers (@vmimage)
options:
  path:
    description:
      - The disk image to make Azure-ready.
      - Without O(dest) it is changed in place; a non-raw image is replaced by the converted file.
    type: path
    required: true
  dest:
    description:
      - Write the fixed VHD to this new file instead of changing O(path).
      - It must not exist (it is never overwritten); its directory must exist.
      - A raw source is copied sparsely (holes stay holes).
    type: path
  source_format:
    description:
      - Format of O(path). V(auto) detects it from the file's headers and footer.
      - V(vpc) is a VHD (fixed, dynamic or differencing).
      - An explicit value must agree with what the file contains, except that any file without a
        recognised header may be declared as something else and handed to C(qemu-img).
    type: str
    default: auto
    choices: [auto, raw, vpc, qcow2, vmdk, vhdx]
requirements:
  - C(qemu-img) for input that is not raw or a fixed VHD (package C(qemu-utils) on Debian and
    Ubuntu, C(qemu-img) on RHEL and Fedora).
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports what would change (RV(action), RV(virtual_size), the diff) and writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Returns the format, disk type and virtual size before and after.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Runs on the host that holds the image; a raw image needs a file system with sparse files for
    the in-place footer append to take no extra space.
seealso:
  - module: vmimage.azure.vhd_info
  - module: vmimage.azure.vhd_upload
"""

EXAMPLES = r"""
- name: Make a raw disk Azure-ready in place (appends a footer, no copy)
  vmimage.azure.vhd:
    path: /srv/images/debian-12.raw

- name: Convert a qcow2 image to a fixed VHD next to it
  vmimage.azure.vhd:
    path: /srv/images/debian-12.qcow2
    dest: /srv/images/debian-12.vhd
  register: vhd

- name: Show the size Azure will see
  ansible.builtin.debug:
    msg: "{{ vhd.path }} is {{ vhd.virtual_size }} bytes ({{ vhd.action }})"
"""

RETURN = r"""
path:
  description: The Azure-ready fixed VHD (O(dest) when given, else O(path)).
  returned: success
  type: str
  sample: /srv/images/debian-12.vhd
action:
  description:
    - What was done (or, in check mode, would be done).
    - V(none) already Azure-ready; V(append_footer) raw image given a footer;
      V(realign) fixed VHD resized to a MiB boundary and given a new footer;
      V(convert) converted with qemu-img; V(copy) already ready, copied to O(dest).
  returned: success
  type: str
  sample: append_footer
format:
  description: Format of the source before the run (V(raw), V(vpc), V(qcow2), V(vmdk), V(vhdx)).
  returned: success
  type: str
  sample: raw
disk_type:
  description: VHD disk type of the source (V(fixed), V(dynamic), V(differencing)); null if it was not a VHD.
  returned: success
  type: str
  sample: null
virtual_size:
  description: Virtual size of the resulting disk in bytes, a multiple of 1 MiB.
  returned: success
  type: int
  sample: 34359738368
file_size:
  description: Size of the resulting file in bytes (virtual size plus the 512-byte footer).
  returned: success
  type: int
  sample: 34359738880
data_bytes:
  description:
    - Bytes of the result in allocated (non-hole) extents, found with SEEK_DATA/SEEK_HOLE without reading
      the data, so the run stays fast on huge disks; an upper bound of what an upload sends
      (M(vmimage.azure.vhd_info) counts the non-zero pages). Of the source in check mode.
  returned: success
  type: int
  sample: 1610612736
allocated_bytes:
  description: Bytes of the result file in allocated extents, footer included (of the source in check mode).
  returned: success
  type: int
  sample: 1610616832
generation_hint:
  description: V(V2) when the disk has a GPT with an EFI system partition, V(V1) for MBR boot disks, else null.
  returned: success
  type: str
  sample: V2
azure_ready:
  description: Whether the result passes every Azure upload check (of the source in check mode).
  returned: success
  type: bool
  sample: true
problems:
  description: Remaining findings about the result (for example smaller than the Azure minimum).
  returned: success
  type: list
  elements: dict
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import convert
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.errors import VhdError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            dest=dict(type='path'),
            source_format=dict(type='str', default='auto', choices=list(convert.SOURCE_FORMATS)),
        ),
        supports_check_mode=True,
    )
    try:
        result = convert.run(module.params['path'], module.params['dest'], module.params['source_format'],
                             check_mode=module.check_mode)
    except VhdError as exc:
        module.fail_json(msg=exc.message, code=exc.code)
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
