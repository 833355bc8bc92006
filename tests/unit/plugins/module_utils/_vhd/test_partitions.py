# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Partition tables: MBR, protective MBR + GPT, the EFI System Partition and the generation hint."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._vhd.partitions import inspect_partitions

MIB = 1 << 20
SIZE = 64 * MIB
SECTORS = SIZE // 512


def inspect(make_file, head, size=SIZE, offset=0):
    path = make_file('disk', offset + size, [(offset, head)])
    with open(path, 'rb') as fh:
        return inspect_partitions(fh, size, offset=offset)


def test_no_table(make_file):
    assert inspect(make_file, b'') == {'scheme': None, 'partitions': [], 'has_esp': False,
                                       'generation_hint': None, 'errors': []}


def test_mbr_bootable_is_v1(make_file, tables):
    res = inspect(make_file, tables.mbr([(0x80, 0x83, 2048, 4096), (0, 0x82, 6144, 2048)]))
    assert res['scheme'] == 'mbr' and not res['has_esp'] and res['generation_hint'] == 'V1'
    first, second = res['partitions']
    assert first == {'number': 1, 'type': '0x83', 'bootable': True, 'first_lba': 2048, 'last_lba': 6143,
                     'size': 4096 * 512}
    assert second['type'] == '0x82' and second['bootable'] is False


def test_mbr_esp_is_v2(make_file, tables):
    res = inspect(make_file, tables.mbr([(0, 0xEF, 2048, 2048), (0, 0x83, 4096, 8192)]))
    assert res['scheme'] == 'mbr' and res['has_esp'] and res['generation_hint'] == 'V2'


def test_mbr_without_bootable_flag_gives_no_hint(make_file, tables):
    res = inspect(make_file, tables.mbr([(0, 0x83, 2048, 4096)]))
    assert res['scheme'] == 'mbr' and res['generation_hint'] is None


def test_boot_sector_is_not_a_partition_table(make_file, tables):
    # a 55AA signature with garbage where entries would be (e.g. a FAT boot sector)
    assert inspect(make_file, tables.mbr([(0x12, 0x83, 10, 20)]))['scheme'] is None
    assert inspect(make_file, tables.mbr([(0, 0x83, 2048, SECTORS)]))['scheme'] is None
    assert inspect(make_file, tables.mbr([(0x80, 0x83, 2048, 4096)], signature=b'\0\0'))['scheme'] is None


def test_gpt_with_esp_is_v2(make_file, tables):
    head = tables.gpt(SECTORS, [(tables.ESP, 'EFI system', 2048, 206847 // 8), (tables.LINUX, 'root', 30000, 120000)])
    res = inspect(make_file, head)
    assert res['scheme'] == 'gpt' and res['has_esp'] and res['generation_hint'] == 'V2'
    assert res['errors'] == []
    esp, root = res['partitions']
    assert esp['type'] == tables.ESP and esp['type_name'] == 'EFI System' and esp['name'] == 'EFI system'
    assert esp['first_lba'] == 2048 and esp['number'] == 1
    assert root['name'] == 'root' and root['size'] == (120000 - 30000 + 1) * 512
    assert res['gpt']['backup_lba'] == SECTORS - 1


def test_gpt_bios_boot_is_v1_and_plain_gpt_unknown(make_file, tables):
    res = inspect(make_file, tables.gpt(SECTORS, [(tables.BIOS_BOOT, 'bios', 34, 2047), (tables.LINUX, 'r', 2048, 9999)]))
    assert res['generation_hint'] == 'V1' and not res['has_esp']
    assert inspect(make_file, tables.gpt(SECTORS, [(tables.LINUX, 'r', 2048, 9999)]))['generation_hint'] is None


def test_gpt_at_an_offset(make_file, tables):
    res = inspect(make_file, tables.gpt(SECTORS, [(tables.ESP, 'esp', 2048, 4095)]), offset=512 * 7)
    assert res['has_esp']


def test_damaged_gpt(make_file, tables):
    head = bytearray(tables.gpt(SECTORS, [(tables.ESP, 'esp', 2048, 4095)]))
    head[1024 + 128 + 56] ^= 1  # partition 2's name: entries CRC breaks
    res = inspect(make_file, bytes(head))
    assert any('entries checksum' in e for e in res['errors'])
    head[512 + 40] ^= 1  # header field: header CRC breaks
    assert any('header checksum' in e for e in inspect(make_file, bytes(head))['errors'])


def test_protective_mbr_without_gpt(make_file, tables):
    res = inspect(make_file, tables.mbr([(0, 0xEE, 1, SECTORS - 1)]))
    assert res['scheme'] == 'gpt' and res['partitions'] == [] and res['errors']


def test_gpt_from_a_bigger_disk(make_file, tables):
    """A disk cut shorter than its GPT says (the backup header is gone)."""
    res = inspect(make_file, tables.gpt(SECTORS * 2, [(tables.LINUX, 'r', 2048, SECTORS + 10)]))
    assert len(res['errors']) == 2


@pytest.mark.skipif(shutil.which('sfdisk') is None, reason='sfdisk (util-linux fdisk) is not installed')
@pytest.mark.parametrize('label, script, hint', [
    ('gpt', 'size=100M, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\ntype=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n', 'V2'),
    ('dos', 'size=100M, type=83, bootable\n', 'V1'),
])
def test_sfdisk_tables(make_file, label, script, hint):
    path = make_file('sf', 256 * MIB)
    subprocess.run(['sfdisk', '-q', '--no-reread', '--label', label, path], input='label: %s\n%s' % (label, script),
                   text=True, check=True, capture_output=True)
    with open(path, 'rb') as fh:
        res = inspect_partitions(fh, 256 * MIB)
    assert res['scheme'] == ('gpt' if label == 'gpt' else 'mbr') and res['generation_hint'] == hint
    assert res['errors'] == []
