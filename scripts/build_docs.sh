#!/usr/bin/env bash
# Build the collection's documentation site (HTML) with antsibull-docs and Sphinx.
#
#   Site:  .build/docs/html/index.html, a module page being for example
#          .build/docs/html/collections/vmimage/azure/vhd_upload_module.html, the guides of
#          docs/docsite/ under .build/docs/html/collections/vmimage/azure/docsite/.
#   Log:   .build/docs/build.log (antsibull-docs and sphinx-build), printed only when the build fails.
#   Work:  .build/docs-src (the sphinx-init template, the generated RST, Sphinx's doctrees).
#
# Usage, from the repository root, with the venv and the collection layout of `make deps`
# (the Makefile runs it as `$(RUN_ENV) scripts/build_docs.sh`):
#
#   PATH=.venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=.build/collections scripts/build_docs.sh
#
# It needs antsibull-docs, Sphinx, sphinx-ansible-theme and ansible-pygments (tests/requirements.txt).
# Every run starts from scratch: .build/docs and .build/docs-src are removed first.
#
# Strict: `antsibull-docs sphinx-init --fail-on-error` makes antsibull-docs fail on a plugin or role
# documentation it cannot parse (instead of writing an error page), and the generated build.sh runs
# `sphinx-build -W --keep-going` with `nitpicky = True`, so any Sphinx warning fails the build, an
# unresolved reference (a wrong O(...)/RV(...)/M(...) target, a broken :ref: in the guides) among them,
# after listing them all.
#
# Offline: nothing is downloaded. The generated conf.py would fetch intersphinx inventories (Python,
# Jinja2, Ansible's docs); here intersphinx_mapping is emptied and a small resolver (appended to
# conf.py below) turns the references that point outside this collection into links to
# docs.ansible.com: plugins and roles of other collections installed here (azure.azcollection,
# ansible.windows, ... in ANSIBLE_COLLECTIONS_PATH or the venv), and a fixed list of labels of Ansible's
# own documentation. Whether an option or return value of another collection's plugin exists is checked
# by `antsibull-docs lint-collection-docs --validate-collection-refs all`, not here. A reference into
# vmimage.azure itself is never sent outside: it must resolve in the site, or the build fails.
#
# Takes 14 to 20 s on a 2-core machine (measured: sphinx-init under 1 s, antsibull-docs collection
# about 5 s, sphinx-build 9 to 15 s).

set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

out=.build/docs
src=.build/docs-src
log=$out/build.log

export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$root/.build/collections}"
export ANSIBLE_NOCOLOR=1 ANSIBLE_NOCOWS=1

for tool in antsibull-docs sphinx-build; do
    command -v "$tool" >/dev/null || {
        echo "build_docs.sh: $tool not found on PATH (make deps installs it into .venv; run with PATH=.venv/bin:\$PATH)" >&2
        exit 1
    }
done

found=
IFS=: read -r -a collection_dirs <<<"$ANSIBLE_COLLECTIONS_PATH"
for dir in "${collection_dirs[@]}"; do
    [ -e "$dir/ansible_collections/vmimage/azure/galaxy.yml" ] && found=yes
done
[ -n "$found" ] || {
    echo "build_docs.sh: vmimage.azure is not in ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH (run make layout)" >&2
    exit 1
}

rm -rf "$out" "$src"
mkdir -p "$out" "$src"
start=$(date +%s)

fail() {
    echo "build_docs.sh: $1; the log ($log) follows" >&2
    cat "$log" >&2
    echo "build_docs.sh: $1 (log: $log)" >&2
    exit 1
}

# The site's front page: the collection, its guides and the plugin indexes.
cat >"$src/index-source.rst" <<'EOF'
.. _docsite_root_index:

vmimage.azure
=============

Documentation of the ``vmimage.azure`` Ansible collection: turn a virtual machine, in Azure or
anywhere else, into an Azure image.

.. toctree::
   :maxdepth: 2
   :caption: Collection:

   collections/index

.. toctree::
   :maxdepth: 1
   :caption: Guides:

   collections/vmimage/azure/docsite/guide_the_job
   collections/vmimage/azure/docsite/guide_authentication
   collections/vmimage/azure/docsite/guide_migrating

.. toctree::
   :maxdepth: 1
   :caption: Plugin indexes:
   :glob:

   collections/index_*

.. toctree::
   :maxdepth: 1
   :caption: Reference indexes:

   collections/environment_variables
EOF

antsibull-docs sphinx-init --use-current --fail-on-error --dest-dir "$src" \
    --project vmimage.azure --copyright 'vmimage.azure contributors' \
    --title 'vmimage.azure documentation' --index-rst-source "$src/index-source.rst" \
    vmimage.azure >"$log" 2>&1 || fail 'antsibull-docs sphinx-init failed'

# Offline references (see the header). Appended to the generated conf.py, which Sphinx executes.
cat >>"$src/conf.py" <<'EOF'


# ---- Added by scripts/build_docs.sh: an offline build -------------------------------------------
# No intersphinx inventory is fetched. References to plugins and roles of other installed collections,
# and to a few labels of Ansible's own documentation, become links to docs.ansible.com; anything else
# that does not resolve stays a warning, which -W turns into a failure.
import os as _os
import re as _re
import sys as _sys

from docutils import nodes as _nodes

intersphinx_mapping = {}

_ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/devel/'
_ANSIBLE_LABELS = {
    'common_return_values': 'reference_appendices/common_return_values.html',
    'ansible_configuration_settings': 'reference_appendices/config.html',
}
_PLUGIN_LABEL = _re.compile(
    r'^ansible_collections\.([a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)_([a-z]+)(?:__(parameter|return)-(.+))?$')
_THIS_COLLECTION = ('vmimage', 'azure')


def _installed(namespace, name, plugin, kind):
    bases = [p for p in _os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(_os.pathsep) if p] + _sys.path
    for base in bases:
        top = _os.path.join(base, 'ansible_collections', namespace, name)
        if kind == 'role':
            path = _os.path.join(top, 'roles', plugin)
        elif kind == 'module':
            path = _os.path.join(top, 'plugins', 'modules', plugin + '.py')
        else:
            path = _os.path.join(top, 'plugins', kind)
        if _os.path.exists(path):
            return True
    return False


def _external_url(target):
    if target in _ANSIBLE_LABELS:
        return _ANSIBLE_DOCS + _ANSIBLE_LABELS[target]
    match = _PLUGIN_LABEL.match(target)
    if not match:
        return None
    namespace, name, plugin, kind, what, rest = match.groups()
    if (namespace, name) == _THIS_COLLECTION or not _installed(namespace, name, plugin, kind):
        return None
    url = '%scollections/%s/%s/%s_%s.html' % (_ANSIBLE_DOCS, namespace, name, plugin, kind)
    return url + ('#%s-%s' % (what, rest) if what else '')


def _resolve_offline(app, env, node, contnode):
    if node.get('refdomain') != 'std' or node.get('reftype') != 'ref':
        return None
    url = _external_url(node.get('reftarget', ''))
    if url is None:
        return None
    ref = _nodes.reference('', '', internal=False, refuri=url, reftitle='Ansible documentation')
    ref.append(contnode)
    return ref


def setup(app):
    app.connect('missing-reference', _resolve_offline)
EOF

# build.sh: antsibull-docs collection (RST of every plugin and role, plus docs/docsite), then sphinx-build.
"$src/build.sh" >>"$log" 2>&1 || fail 'the documentation build failed'

[ -f "$src/build/html/index.html" ] || fail "sphinx-build wrote no $src/build/html/index.html"
mv "$src/build/html" "$out/html"
echo "docs: $out/html/index.html ($(( $(date +%s) - start )) s; log $log)"
