# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Shared authentication options and the azure-identity credential they describe.

Nothing here knows about AnsibleModule: ``validate_auth`` and ``build_credential`` take the plain
parameter dict and raise ``AuthConfigError`` with a message that says what to set.
"""

from __future__ import annotations

import os

from ansible.module_utils.basic import env_fallback

IDENTITY_IMPORT_ERROR = None
try:
    from azure import identity
except ImportError as exc:  # the base module reports it with missing_required_lib
    identity = None
    IDENTITY_IMPORT_ERROR = exc

AUTH_SOURCES = ('auto', 'cli', 'env', 'msi', 'credentials', 'workload_identity')

# Per cloud: Entra ID authority host, Resource Manager endpoint (also its token audience) and the
# storage endpoint suffix.
CLOUDS = {
    'AzureCloud': {
        'authority_host': 'https://login.microsoftonline.com',
        'resource_manager': 'https://management.azure.com',
        'storage_suffix': 'core.windows.net',
    },
    'AzureUSGovernment': {
        'authority_host': 'https://login.microsoftonline.us',
        'resource_manager': 'https://management.usgovcloudapi.net',
        'storage_suffix': 'core.usgovcloudapi.net',
    },
    'AzureChinaCloud': {
        'authority_host': 'https://login.chinacloudapi.cn',
        'resource_manager': 'https://management.chinacloudapi.cn',
        'storage_suffix': 'core.chinacloudapi.cn',
    },
}
STORAGE_SCOPE = 'https://storage.azure.com/.default'

# Option -> environment variables read when the option is not set (first one set wins).
ENV = {
    'auth_source': ('ANSIBLE_AZURE_AUTH_SOURCE',),
    'client_id': ('AZURE_CLIENT_ID',),
    'secret': ('AZURE_SECRET', 'AZURE_CLIENT_SECRET'),
    'tenant': ('AZURE_TENANT', 'AZURE_TENANT_ID'),
    'subscription_id': ('AZURE_SUBSCRIPTION_ID',),
    'cloud_environment': ('AZURE_CLOUD_ENVIRONMENT',),
    'authority_host': ('AZURE_AUTHORITY_HOST',),
    'resource_manager_endpoint': ('AZURE_RESOURCE_MANAGER_ENDPOINT',),
    'federated_token_file': ('AZURE_FEDERATED_TOKEN_FILE',),
    'disable_instance_discovery': ('AZURE_DISABLE_INSTANCE_DISCOVERY',),
}

_SPEC = {
    'auth_source': dict(type='str', default='auto', choices=list(AUTH_SOURCES)),
    'client_id': dict(type='str'),
    'secret': dict(type='str', no_log=True),
    'tenant': dict(type='str'),
    'subscription_id': dict(type='str'),
    'cloud_environment': dict(type='str', default='AzureCloud', choices=sorted(CLOUDS)),
    'authority_host': dict(type='str'),
    'resource_manager_endpoint': dict(type='str'),
    'federated_token_file': dict(type='path'),
    'disable_instance_discovery': dict(type='bool', default=False),
}
AUTH_ARGSPEC = dict(
    (name, dict(spec, fallback=(env_fallback, list(ENV[name])))) for name, spec in _SPEC.items()
)

# What each auth_source needs; env sources are checked against the environment directly.
_REQUIRED = {
    'credentials': ('client_id', 'secret', 'tenant'),
    'workload_identity': ('client_id', 'tenant', 'federated_token_file'),
}
_ENV_CREDENTIAL_VARS = (('AZURE_CLIENT_ID',), ('AZURE_TENANT_ID',),
                        ('AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH'))


class AuthConfigError(ValueError):
    """The authentication options are incomplete or inconsistent; the message says what to set."""


def _option_hint(name):
    return '%s (or %s)' % (name, ' / '.join(ENV[name]))


def _missing(params, names):
    return [n for n in names if not params.get(n)]


def cloud_endpoints(params):
    """Endpoints for the chosen cloud, with ``authority_host`` / ``resource_manager_endpoint`` overrides."""
    cloud = dict(CLOUDS[params.get('cloud_environment') or 'AzureCloud'])
    arm_audience = cloud['resource_manager']
    cloud['authority_host'] = (params.get('authority_host') or cloud['authority_host']).rstrip('/')
    cloud['resource_manager'] = (params.get('resource_manager_endpoint') or arm_audience).rstrip('/')
    cloud['arm_scope'] = arm_audience + '/.default'
    return cloud


def uses_client_secret(params):
    """True when build_credential will use ClientSecretCredential."""
    source = params.get('auth_source') or 'auto'
    return source == 'credentials' or (source == 'auto' and not _missing(params, _REQUIRED['credentials']))


def validate_auth(params):
    """Raise AuthConfigError when the options cannot describe a usable credential."""
    source = params.get('auth_source') or 'auto'
    if source not in AUTH_SOURCES:
        raise AuthConfigError('auth_source must be one of %s, not %r' % (', '.join(AUTH_SOURCES), source))
    needed = _REQUIRED.get(source, ())
    if source == 'auto' and params.get('secret'):
        needed = _REQUIRED['credentials']  # a secret is only useful with the other two
    missing = _missing(params, needed)
    if missing:
        why = 'auth_source=%s' % source if source != 'auto' else 'a client secret'
        raise AuthConfigError('%s needs %s; missing: %s. Set %s.' % (
            why, ', '.join(needed), ', '.join(missing), ' and '.join(_option_hint(n) for n in missing)))
    if source == 'env':
        unset = [' or '.join(names) for names in _ENV_CREDENTIAL_VARS
                 if not any(os.environ.get(n) for n in names)]
        if unset:
            raise AuthConfigError('auth_source=env reads the credential from the environment, but %s '
                                  'is not set. Export it, or use auth_source=credentials.' % ', '.join(unset))
    for name in ('authority_host', 'resource_manager_endpoint'):
        value = params.get(name)
        if value and not value.lower().startswith('https://'):
            raise AuthConfigError('%s must be an https:// URL, got %r' % (name, value))


def build_credential(params):
    """Return the azure-identity TokenCredential described by the auth options."""
    if identity is None:
        raise AuthConfigError('the azure-identity Python library is required: %s' % IDENTITY_IMPORT_ERROR)
    validate_auth(params)
    source = params.get('auth_source') or 'auto'
    authority = cloud_endpoints(params)['authority_host']
    entra = dict(authority=authority)
    if params.get('disable_instance_discovery'):
        entra['disable_instance_discovery'] = True
    client_id, tenant = params.get('client_id'), params.get('tenant')

    if uses_client_secret(params):
        return identity.ClientSecretCredential(tenant, client_id, params['secret'], **entra)
    if source == 'msi':
        return identity.ManagedIdentityCredential(client_id=client_id)
    if source == 'cli':
        return identity.AzureCliCredential(tenant_id=tenant or '')
    if source == 'env':
        return identity.EnvironmentCredential(**entra)
    if source == 'workload_identity':
        return identity.WorkloadIdentityCredential(
            tenant_id=tenant, client_id=client_id, token_file_path=params['federated_token_file'], **entra)
    if client_id:
        entra['managed_identity_client_id'] = client_id
    return identity.DefaultAzureCredential(**entra)
