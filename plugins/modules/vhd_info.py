#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vhd_info
short_description: Report whether a disk image is ready for upload to Azure
version_added: 0.1.0
description:
  - Reads a disk image (raw, VHD, qcow2, VMDK or VHDX) and reports its format, sizes, VHD footer,
    partition table, likely Hyper-V generation and every problem that keeps it from being
    uploaded to Azure as is.
  - Never changes anything. An image that is not Azure-ready is not an error; the findings are in
    RV(problems). The module fails only when O(path) is missing or cannot be read.
  - Never runs C(qemu-img) and never opens the files an image names. A qcow2 or VMDK backing file, a
    qcow2 external data file and VMDK extents outside the image's own directory are found from the
    image's headers and reported as problems of severity V(error) (codes V(backing_file),
    V(external_data_file), V(outside_extent)); M(vmimage.azure.vhd) refuses such images unless told
    to trust them.
  - The format is taken from a VHD footer when the file ends with one, else from the first bytes of
    the file, as C(qemu-img) would guess it. A fixed VHD whose first bytes are another format's
    header gets the warning V(ambiguous_format); formats C(qemu-img) knows but
    M(vmimage.azure.vhd) does not convert (qcow version 1, QED, VDI, Parallels, LUKS, Bochs, cloop)
    get the error V(unsupported_format).
author:
  - vmimage.azure maintainers (@vmimage)
extends_documentation_fragment:
  - vmimage.azure.attributes.info_module
options:
  path:
    description: The disk image to inspect.
    type: path
    required: true
seealso:
  - module: vmimage.azure.vhd
"""

EXAMPLES = r"""
- name: Inspect an image
  vmimage.azure.vhd_info:
    path: /srv/images/debian-12.vhd
  register: image

- name: Stop when the image cannot be uploaded as is
  ansible.builtin.assert:
    that: image.azure_ready
    fail_msg: "{{ image.problems | map(attribute='message') | join('; ') }}"
"""

RETURN = r"""
path:
  description: The inspected file.
  returned: success
  type: str
  sample: /srv/images/debian-12.vhd
format:
  description:
    - Detected format (V(raw), V(vpc), V(qcow2), V(vmdk) or V(vhdx)); for formats that are recognised but not converted,
      V(qcow), V(qed), V(vdi), V(parallels), V(luks), V(bochs) or V(cloop).
  returned: success
  type: str
  sample: vpc
disk_type:
  description: VHD disk type (V(fixed), V(dynamic), V(differencing)); null when the image is not a VHD.
  returned: success
  type: str
  sample: fixed
virtual_size:
  description: Size of the disk the image describes, in bytes.
  returned: success
  type: int
  sample: 34359738368
file_size:
  description: Size of the image file in bytes.
  returned: success
  type: int
  sample: 34359738880
allocated_bytes:
  description:
    - Bytes of the file in allocated (non-hole) extents, found with SEEK_DATA/SEEK_HOLE, footer included.
    - The same measure as the C(allocated_bytes) of M(vmimage.azure.vhd).
  returned: success
  type: int
  sample: 1610616832
data_bytes:
  description:
    - Bytes of the file in non-zero 512-byte pages (footer included), what an upload that skips empty pages
      sends; the file's allocated extents are read to count them.
    - The same measure as the C(data_bytes) of M(vmimage.azure.vhd_upload).
  returned: success
  type: int
  sample: 1610612736
footer:
  description: The VHD footer fields, including RV(footer.checksum_ok); null when the image has no footer.
  returned: success
  type: dict
  contains:
    checksum_ok:
      description: Whether the stored checksum matches the footer's contents.
      type: bool
      returned: when the image has a footer
      sample: true
dynamic:
  description: For a dynamic or differencing VHD, its header (block size, allocated blocks, parent); else null.
  returned: success
  type: dict
partition_table:
  description: The partition table found in the disk (scheme, partitions, whether an EFI system partition exists).
  returned: success
  type: dict
generation_hint:
  description: V(V2) for a GPT disk with an EFI system partition, V(V1) for an MBR boot disk, else null.
  returned: success
  type: str
  sample: V2
azure_ready:
  description: Whether the file can be uploaded to Azure as is (a fixed VHD, size a whole number of MiB, within limits).
  returned: success
  type: bool
  sample: false
problems:
  description: Everything that keeps the image from being Azure-ready, or is worth a warning.
  returned: success
  type: list
  elements: dict
  contains:
    code:
      description:
        - Stable identifier of the problem.
        - Errors - V(not_found), V(unreadable), V(is_directory), V(empty), V(not_vhd), V(unsupported_format),
          V(backing_file), V(external_data_file), V(outside_extent), V(not_sector_multiple), V(bad_checksum),
          V(bad_cookie), V(truncated), V(bad_header), V(dynamic_vhd), V(differencing_vhd), V(size_mismatch),
          V(misaligned), V(under_minimum), V(over_page_blob_limit), V(over_upload_limit).
        - Warnings - V(over_os_disk_limit), V(geometry_mismatch), V(bad_partition_table), V(ambiguous_format).
      type: str
      returned: always
      sample: not_vhd
    message:
      description: What is wrong and what to do about it.
      type: str
      returned: always
    severity:
      description: V(error) blocks the upload; V(warning) does not.
      type: str
      returned: always
      sample: error
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmimage.azure.plugins.module_utils._vhd import image

# Problems that mean there is no image to describe; everything else is reported, not failed on.
FATAL = ('not_found', 'unreadable', 'is_directory')


def main():
    module = AnsibleModule(argument_spec=dict(path=dict(type='path', required=True)), supports_check_mode=True)
    facts = image.inspect_image(module.params['path'])
    for problem in facts['problems']:
        if problem['code'] in FATAL:
            module.fail_json(msg=problem['message'], code=problem['code'])
    module.exit_json(changed=False, **facts)


if __name__ == '__main__':
    main()
