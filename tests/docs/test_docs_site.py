# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation site (scripts/build_docs.sh, `make docs`), looked at as a browser shows it.

The site must be built already (.build/docs/html); it is not built here. Headless Chromium (Debian's
`chromium` package) loads the vhd_upload module page and the test reads the DOM it rendered: the
heading, the options table (every option of the module's DOCUMENTATION, with its type, choices and
aliases), the examples (every task of EXAMPLES) and the return values (every key of RETURN). A second
run takes a screenshot, which must be a PNG of the window's size with real content. The guides of
docs/docsite, the role pages and the module pages are checked in the built files.

Without Chromium the browser tests skip, which fails under CI=true (tests/conftest.py).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from ansible_collections.vmimage.azure.tests.support.plugin_docs import assigned_text, assigned_yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / '.build' / 'docs'
SITE = DOCS / 'html'
COLLECTION = SITE / 'collections' / 'vmimage' / 'azure'
PAGE = COLLECTION / 'vhd_upload_module.html'
SCREENSHOT = DOCS / 'vhd_upload_module.png'
WINDOW = (1280, 2400)
CHROMIUM_TIMEOUT = 120
GUIDES = ('guide_the_job', 'guide_authentication', 'guide_migrating')
TYPE_NAMES = {'str': 'string', 'int': 'integer', 'bool': 'boolean', 'dict': 'dictionary', 'path': 'path',
              'float': 'float', 'raw': 'any', 'list': 'list'}


# --- reading the documentation sources ------------------------------------------------------------

def module_docs(path):
    """DOCUMENTATION, EXAMPLES and RETURN of a module file, as text."""
    return {name: assigned_text(path, name) for name in ('DOCUMENTATION', 'EXAMPLES', 'RETURN')}


def words(text):
    return ' '.join(text.split())


# --- a small DOM of the serialized page ------------------------------------------------------------

VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr'}


class Element(object):
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    @property
    def classes(self):
        return (self.attrs.get('class') or '').split()

    def text(self):
        return ''.join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag=None, cls=None, **attrs):
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get(k) == v for k, v in attrs.items())]

    def by_id(self, ident):
        found = self.find_all(id=ident)
        return found[0] if found else None

    def ancestor(self, tag):
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node


class DomBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element('#document', {})

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, attrs, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse_html(text):
    builder = DomBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


# --- Chromium ---------------------------------------------------------------------------------------

def chromium_binary():
    for name in ('chromium', 'chromium-browser'):
        found = shutil.which(name)
        if found:
            return found
    return '/usr/bin/chromium' if os.access('/usr/bin/chromium', os.X_OK) else None


def require_site():
    if not (SITE / 'index.html').is_file() or not PAGE.is_file():
        pytest.fail('the documentation site is not built (no %s): run `make docs` (scripts/build_docs.sh) first'
                    % PAGE.relative_to(ROOT), pytrace=False)


def run_chromium(args, profile):
    binary = chromium_binary()
    if binary is None:
        pytest.skip('chromium is not installed: the Debian package chromium '
                    '(apt-get install --no-install-recommends chromium)')
    argv = [binary, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
            '--user-data-dir=%s' % profile] + args + [PAGE.as_uri()]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=CHROMIUM_TIMEOUT,
                              check=False, env=dict(os.environ, HOME=str(profile)))
    except subprocess.TimeoutExpired:
        pytest.fail('chromium did not finish within %d s: %s' % (CHROMIUM_TIMEOUT, ' '.join(argv)), pytrace=False)
    assert proc.returncode == 0, 'chromium exited %d: %s' % (proc.returncode, proc.stderr.decode(errors='replace')[-2000:])
    return proc


@pytest.fixture(scope='module')
def docs():
    return module_docs(ROOT / 'plugins' / 'modules' / 'vhd_upload.py')


@pytest.fixture(scope='module')
def dom(tmp_path_factory):
    require_site()
    proc = run_chromium(['--dump-dom'], tmp_path_factory.mktemp('chromium-dom'))
    html = proc.stdout.decode('utf-8')
    assert len(html) > 20000, 'chromium rendered almost nothing (%d bytes of DOM)' % len(html)
    return parse_html(html)


def section(dom, ident):
    found = dom.by_id(ident)
    assert found is not None and found.tag == 'section', 'no <section id="%s"> in the rendered page' % ident
    return found


def table_rows(section_element, anchor_prefix):
    """{name: row element} of the ansible option table of a section, by the anchors of its rows."""
    tables = section_element.find_all('table', cls='ansible-option-table')
    assert tables, 'no options table in section %s' % section_element.attrs.get('id')
    rows = {}
    for anchor in tables[0].find_all('div', cls='ansibleOptionAnchor'):
        ident = anchor.attrs.get('id', '')
        if ident.startswith(anchor_prefix) and '/' not in ident:
            rows[ident[len(anchor_prefix):]] = anchor.ancestor('tr')
    return rows


# --- the module page in the browser -----------------------------------------------------------------

def test_page_heading(dom, docs):
    title = words(dom.find_all('title')[0].text())
    assert title.startswith('vmimage.azure.vhd_upload module'), title
    headings = [words(h.text()) for h in dom.find_all('h1')]
    assert len(headings) == 1 and headings[0].startswith('vmimage.azure.vhd_upload module'), headings
    assert words(yaml.safe_load(docs['DOCUMENTATION'])['short_description']) in headings[0]


def test_options_table(dom, docs):
    options = yaml.safe_load(docs['DOCUMENTATION'])['options']
    assert len(options) > 20
    rows = table_rows(section(dom, 'parameters'), 'parameter-')
    missing = sorted(set(options) - set(rows))
    assert not missing, 'options of DOCUMENTATION missing from the rendered table: %s' % missing
    # The auth options of the doc fragment are rows too.
    assert {'auth_source', 'client_id', 'secret', 'tenant', 'subscription_id'} <= set(rows)
    for name, spec in options.items():
        row = rows[name]
        cells = row.find_all('td')
        assert len(cells) == 2, 'option %s: %d cells' % (name, len(cells))
        titles = [words(t.text()) for t in cells[0].find_all('p', cls='ansible-option-title')]
        assert titles == [name], (name, titles)
        kind = words(' '.join(t.text() for t in cells[0].find_all('span', cls='ansible-option-type')))
        assert kind.startswith(TYPE_NAMES[spec.get('type', 'str')]), (name, kind)
        head, body = words(cells[0].text()), words(cells[1].text())
        for alias in spec.get('aliases') or []:
            assert alias in head, 'option %s: alias %s not shown' % (name, alias)
        description = spec['description'] if isinstance(spec['description'], list) else [spec['description']]
        # The first words of the description, its markup (O(...), C(...), V(...)) reduced to the text shown.
        first = words(re.sub(r'[^\w\s]', ' ', re.sub(r'\b[A-Z]+\(([^)]*)\)', r'\1', description[0])))[:20]
        assert len(first) > 5 and first in words(re.sub(r'[^\w\s]', ' ', body)), \
            'option %s: description not shown (%r)' % (name, body[:120])
        for choice in spec.get('choices') or []:
            assert str(choice) in body, 'option %s: choice %s not shown' % (name, choice)
        if 'default' in spec and spec['default'] not in (None, False, [], ''):
            assert 'Default:' in body and str(spec['default']) in body, 'option %s: default not shown' % name


def test_examples(dom, docs):
    text = words(section(dom, 'examples').text())
    tasks = yaml.safe_load(docs['EXAMPLES'])
    assert len(tasks) >= 3
    for task in tasks:
        assert words(task['name']) in text, 'example task %r not shown' % task['name']
    for line in docs['EXAMPLES'].splitlines():
        if line.strip():
            assert words(line) in text, 'example line %r not shown' % line
    assert section(dom, 'examples').find_all('pre'), 'the examples are not a code block'


def test_return_values(dom, docs):
    returns = yaml.safe_load(docs['RETURN'])
    rows = table_rows(section(dom, 'return-values'), 'return-')
    missing = sorted(set(returns) - set(rows))
    assert not missing, 'return values of RETURN missing from the rendered table: %s' % missing
    for name, spec in returns.items():
        body = words(rows[name].find_all('td')[1].text())
        assert 'Returned:' in body, 'return value %s: no "Returned:" line' % name
        if 'sample' in spec and not isinstance(spec['sample'], (dict, list)):
            assert str(spec['sample']).lower() in body.lower(), 'return value %s: sample not shown' % name


def png_facts(path):
    data = path.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG: %r' % data[:8]
    assert data[12:16] == b'IHDR', 'the first chunk is not IHDR'
    width, height, depth, colour = struct.unpack('>IIBB', data[16:26])
    idat, offset = b'', 8
    while offset < len(data):
        length, kind = struct.unpack('>I4s', data[offset:offset + 8])
        if kind == b'IDAT':
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    return dict(size=len(data), width=width, height=height, depth=depth, colour=colour, pixels=zlib.decompress(idat))


def test_screenshot(tmp_path):
    require_site()
    if SCREENSHOT.exists():
        SCREENSHOT.unlink()
    run_chromium(['--hide-scrollbars', '--screenshot=%s' % SCREENSHOT, '--window-size=%d,%d' % WINDOW], tmp_path)
    assert SCREENSHOT.is_file(), 'chromium wrote no %s' % SCREENSHOT
    png = png_facts(SCREENSHOT)
    assert (png['width'], png['height']) == WINDOW, png
    assert png['depth'] == 8 and png['colour'] in (2, 6), png
    # A blank or error page compresses to a few kB and has a handful of colours; this page has text,
    # tables and the theme's navigation.
    assert png['size'] > 60 * 1024, 'screenshot of %d bytes: the page looks empty' % png['size']
    assert len(set(png['pixels'])) > 64, 'the screenshot has almost no distinct values: a blank page'


# --- the rest of the site, from the built files -----------------------------------------------------

def read_page(path):
    assert path.is_file(), '%s is missing from the site' % path.relative_to(ROOT)
    return parse_html(path.read_text(encoding='utf-8'))


def local_links(page, path):
    """The relative links of a page, as files, each checked to exist."""
    targets = set()
    for a in page.find_all('a'):
        href = a.attrs.get('href') or ''
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path:
            continue
        target = (path.parent / unquote(parts.path)).resolve()
        assert target.exists(), '%s links to %s, which does not exist' % (path.relative_to(ROOT), href)
        targets.add(target)
    return targets


def test_guides_exist_and_are_linked():
    require_site()
    guides = {name: COLLECTION / 'docsite' / (name + '.html') for name in GUIDES}
    for path in guides.values():
        page = read_page(path)
        headings = [words(h.text()) for h in page.find_all('h1')]
        assert len(headings) == 1 and len(headings[0]) > 5, (path, headings)
        assert len(words(page.find_all('div', role='main')[0].text())) > 1000, '%s is nearly empty' % path
        local_links(page, path)
    for index in (SITE / 'index.html', COLLECTION / 'index.html'):
        linked = local_links(read_page(index), index)
        for name, path in guides.items():
            assert path.resolve() in linked, '%s does not link %s' % (index.relative_to(ROOT), name)


def test_authentication_guide_names_every_auth_option():
    require_site()
    page = read_page(COLLECTION / 'docsite' / 'guide_authentication.html')
    rows = page.find_all('table')[0].find_all('tr')
    first_cells = [words(r.find_all('td')[0].text()) for r in rows if r.find_all('td')]
    names = set(n.strip() for cell in first_cells for n in cell.split(','))
    expected = set(assigned_yaml(ROOT / 'plugins' / 'doc_fragments' / 'azure_auth.py', 'DOCUMENTATION', 'ModuleDocFragment')['options'])
    expected |= {'account_key', 'sas_token', 'connection_string', 'blob_url', 'account_url'}
    assert expected <= names, 'auth options missing from the table: %s' % sorted(expected - names)


def test_module_and_role_pages():
    require_site()
    modules = sorted(p.stem for p in (ROOT / 'plugins' / 'modules').glob('*.py') if p.stem != '__init__')
    assert modules
    for name in modules:
        page = read_page(COLLECTION / ('%s_module.html' % name))
        assert words(page.find_all('h1')[0].text()).startswith('vmimage.azure.%s module' % name)
    roles = sorted(p.parent.parent.name for p in (ROOT / 'roles').glob('*/meta/argument_specs.yml'))
    assert {'prepare_linux', 'prepare_windows', 'generalize', 'capture', 'upload'} <= set(roles)
    for role in roles:
        page = read_page(COLLECTION / ('%s_role.html' % role))
        assert words(page.find_all('h1')[0].text()).startswith('vmimage.azure.%s role' % role)
        spec = yaml.safe_load((ROOT / 'roles' / role / 'meta' / 'argument_specs.yml').read_text(encoding='utf-8'))
        anchors = {e.attrs['id'] for e in page.find_all('div', cls='ansibleOptionAnchor')}
        for entry_point, entry in spec['argument_specs'].items():
            for option in entry.get('options') or {}:
                assert 'parameter-%s--%s' % (entry_point, option) in anchors, '%s: option %s has no row' % (role, option)
