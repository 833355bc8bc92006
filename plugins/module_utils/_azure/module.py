# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""The base of every module in the collection: wraps AnsibleModule (composition, not inheritance).

    module = AzureModule(argument_spec=dict(...))
    try:
        result = service.run(module.compute(), module.params, check_mode=module.check_mode)
    except Exception as exc:  # only main() turns exceptions into failures
        module.fail(exc)
    module.exit(**result)
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.vmimage.azure.plugins.module_utils._azure import auth as _auth
from ansible_collections.vmimage.azure.plugins.module_utils._azure import clients as _clients
from ansible_collections.vmimage.azure.plugins.module_utils._azure import lro as _lro
from ansible_collections.vmimage.azure.plugins.module_utils._azure.errors import describe_error, scrub


class AzureModule(object):
    """Wraps AnsibleModule: auth options, library checks, lazy credential and clients, clean failures.

    azure-identity is not checked here: it is imported when a credential is first asked for
    (``resolved()``), so that a module that can do without Microsoft Entra ID (vhd_upload with a key or
    a SAS) neither needs it nor pays for its import; ``fail()`` reports it with missing_required_lib.

    ``secrets(params)`` returns values to hide wherever they appear (results, messages, the
    invocation), e.g. the signature of a SAS inside an option that is not a secret as a whole; they
    join the module's no_log values as soon as the arguments are parsed, before anything can fail.
    ``partly_secret`` names such options (a URL that may carry a SAS): while AnsibleModule validates
    and logs the arguments they are hidden as a whole, afterwards only the parts ``secrets`` gives.
    """

    def __init__(self, argument_spec, supports_check_mode=True, mutually_exclusive=None,
                 required_together=None, required_one_of=None, required_if=None, required_by=None,
                 auth=True, required_libs=None, secrets=None, partly_secret=()):
        spec = dict(argument_spec)
        if auth:
            clash = set(spec) & set(_auth.AUTH_ARGSPEC)
            if clash:
                raise ValueError('argument_spec redefines auth options: %s' % ', '.join(sorted(clash)))
            spec.update(_auth.AUTH_ARGSPEC)
        for name in partly_secret:
            # Until _register_secrets: a failed validation (which returns the arguments) or the
            # syslog line AnsibleModule writes must not show a SAS in the URL.
            spec[name] = dict(spec[name], no_log=True)
        # Only the constraints given: validate-modules reads AnsibleModule's arguments and refuses None.
        constraints = dict((k, v) for k, v in dict(
            mutually_exclusive=mutually_exclusive, required_together=required_together,
            required_one_of=required_one_of, required_if=required_if, required_by=required_by).items() if v)
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode, **constraints)
        self._register_secrets(spec, secrets, partly_secret)
        self._resolved = None
        self._clients = {}
        for name, error in required_libs or ():
            if error is not None:
                self.module.fail_json(msg=missing_required_lib(name), exception=str(error))

    def _register_secrets(self, spec, secrets, partly_secret):
        params = self.module.params
        secret_options = [n for n, o in spec.items() if o.get('no_log') and n not in partly_secret]
        keep = set(params.get(n) for n in secret_options)
        whole = set(params.get(n) for n in partly_secret) - keep - {None}
        self.module.no_log_values.difference_update(whole)
        if secrets is not None:
            self.module.no_log_values.update(v for v in secrets(params) if v)

    def add_secrets(self, values):
        """Hide ``values`` (e.g. a SAS URL Azure has just returned) from every later result, message and log line."""
        self.module.no_log_values.update(v for v in values if v)

    @property
    def params(self):
        return self.module.params

    @property
    def check_mode(self):
        return self.module.check_mode

    def _secrets(self):
        return set(self.module.no_log_values) | {self.params.get('secret'), self.params.get('password')} - {None}

    def resolved(self):
        """The resolved authentication (``auth.resolve``): credential, cloud, subscription, source.

        Resolving sends nothing but, for a cloud given as a Resource Manager URL, the metadata
        request: call it before writing anything to fail early on bad options. It imports
        azure-identity (``auth.MissingLibrary`` when it is not installed)."""
        if self._resolved is None:
            self._resolved = _auth.resolve(self.params)
            for text in self._resolved.warnings:
                self.warn(text)
            for text in self._resolved.deprecations:
                self.module.deprecate(self.scrub(text), version='0.3.0', collection_name='vmimage.azure')
        return self._resolved

    def credential(self):
        """The azure-identity credential, built once; raises AuthConfigError when the options are unusable."""
        return self.resolved().credential

    def client(self, factory, **kwargs):
        """A Resource Manager client (e.g. ComputeManagementClient), created once per factory.

        ``factory(credential, subscription_id, base_url=..., credential_scopes=[...], **kwargs)``
        is the calling convention of every azure-mgmt-* client.
        """
        if factory not in self._clients:
            self._clients[factory] = _clients.arm_client(factory, self.resolved(), **kwargs)
        return self._clients[factory]

    def compute(self):
        """azure-mgmt-compute's ComputeManagementClient for the resolved cloud and subscription.

        The SDK is imported here, not when the module starts, so that modules that never call
        Resource Manager do not pay for it."""
        try:
            factory = _clients.compute_factory()
        except ImportError as exc:
            self.module.fail_json(msg=missing_required_lib('azure-mgmt-compute'), exception=str(exc))
        return self.client(factory)

    def wait(self, poller, operation, timeout=None):
        """Wait for a long-running operation (an azure-core LROPoller) and return its result.

        ``operation`` names it in errors ("create snapshot 'x'"); ``timeout`` defaults to the
        module's ``timeout`` option."""
        if timeout is None:
            timeout = self.params.get('timeout') or _clients.DEFAULT_TIMEOUT
        return _lro.wait(poller, operation, timeout)

    def run_plan(self, service, key):
        """Run a module that manages one resource and exit.

        ``service.plan(client, subscription_id, params)`` reads (GETs only) and decides; unless in
        check mode ``service.apply(client, planned, wait)`` writes. The result has ``changed``,
        ``action``, ``id``, ``key`` (the resource as the service normalizes it; in check mode what it
        would be) and, when something changes, the ``diff`` from the same comparison."""
        try:
            planned = service.plan(self.compute(), self.resolved().subscription_id, self.params)
            state = planned['after'] if self.check_mode else service.apply(self.compute(), planned, self.wait)
        except Exception as exc:  # the modules' main(): the one place exceptions become failures
            self.fail(exc)
        changed = planned['action'] != 'none'
        result = {'changed': changed, 'action': planned['action'], 'id': state.get('id'), key: state}
        if changed:
            result['diff'] = dict(before=planned['before'], after=planned['after'])
        self.exit(**result)

    @property
    def auth_source(self):
        """Which credential source won (``auth.resolve``), once resolved; None before."""
        return self._resolved.source if self._resolved is not None else None

    def scrub(self, text):
        return scrub(text, self._secrets())

    def fail(self, exc_or_msg, **result):
        """fail_json with one clear message; no secret survives in the message or the result."""
        if isinstance(exc_or_msg, _auth.MissingLibrary):  # missing_required_lib's message and the import error
            result.setdefault('exception', str(exc_or_msg.error))
        if isinstance(exc_or_msg, BaseException):
            msg = describe_error(exc_or_msg, self._secrets())
        else:
            msg = self.scrub(exc_or_msg)
        result = dict((k, v if not isinstance(v, str) else self.scrub(v)) for k, v in result.items())
        self.module.fail_json(msg=msg, **result)

    def exit(self, **result):
        """exit_json; the result says which credential source was used (never a secret)."""
        if self.auth_source is not None:
            result.setdefault('auth_source', self.auth_source)
        self.module.exit_json(**result)

    def warn(self, msg):
        self.module.warn(self.scrub(msg))
