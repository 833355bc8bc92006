# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Authentication as azure.azcollection's modules do it: same options, environment variables,
``~/.azure/credentials`` profiles and ``auth_source`` order, on top of azure-identity.

    resolved = resolve(module.params)      # AuthConfigError when the options cannot work
    resolved.credential, resolved.subscription_id, resolved.cloud, resolved.source

Nothing here knows about AnsibleModule. Resolving sends nothing over the network, except the
metadata request of a cloud given as a Resource Manager URL (``cloud.resolve_cloud``).

Where each setting comes from (first found wins):

* the source (``auth_source=auto``): a ``profile`` option -> a credential in the options
  (``client_id`` or ``ad_user``) -> the environment (``AZURE_PROFILE``, or a credential in the
  ``AZURE_*`` variables) -> the ``[default]`` profile of ``~/.azure/credentials`` (when it has a
  subscription_id) -> the Azure CLI's login -> the machine's managed identity;
* credential values (client_id, secret, tenant, ad_user, password, x509_certificate_path,
  thumbprint): an option set in the task, else the winning source (profile or environment);
* subscription_id, cloud_environment, cert_validation_mode, adfs_authority_url,
  disable_instance_discovery: an option, else the profile (credential file), else the environment
  variable, else (Azure CLI) the CLI's default subscription and active cloud.

The argument spec has no environment fallback for these (with one, a value from the environment
would look like an option): only ``auth_source``, ``authority_host``,
``resource_manager_endpoint`` and ``federated_token_file`` keep theirs, since the variable can
never change which source wins.
"""

from __future__ import annotations

import configparser
import importlib
import json
import os
import re
import stat
import warnings

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.vmimage.azure.plugins.module_utils._azure import cloud as _cloud
from ansible_collections.vmimage.azure.plugins.module_utils._azure.cloud import AuthConfigError  # noqa: F401

# azure-identity is imported on first use (``load_identity``), not with this file: only Microsoft
# Entra ID authentication needs it (vhd_upload with a key, a SAS or a connection string does not), and
# it is the slowest import of a module. Unit tests replace ``identity`` with a stand-in.
identity = None
IDENTITY_IMPORT_ERROR = None
IDENTITY_LIBRARY = 'azure-identity'


class MissingLibrary(AuthConfigError):
    """A Python library that the authentication asked for cannot be imported.

    ``str()`` is Ansible's ``missing_required_lib`` message; ``library`` the pip name, ``error`` the
    ImportError."""

    def __init__(self, library, error, reason=None):
        super(MissingLibrary, self).__init__(missing_required_lib(library, reason=reason))
        self.library = library
        self.error = error


def load_identity():
    """The ``azure.identity`` package, imported once; raises MissingLibrary when it cannot be."""
    global identity, IDENTITY_IMPORT_ERROR  # pylint: disable=global-statement
    if identity is None and IDENTITY_IMPORT_ERROR is None:
        try:
            identity = importlib.import_module('azure.identity')
        except ImportError as exc:
            IDENTITY_IMPORT_ERROR = exc
    if identity is None:
        raise MissingLibrary(IDENTITY_LIBRARY, IDENTITY_IMPORT_ERROR, reason='for Microsoft Entra ID authentication')
    return identity


# auth_source choices; 'credentials' is the deprecated spelling of 'credential_file'.
AUTH_SOURCES = ('auto', 'cli', 'credential_file', 'env', 'msi', 'workload_identity', 'credentials')
DEPRECATED_SOURCES = {'credentials': 'credential_file'}
DEPRECATION_VERSION = '0.3.0'
# What Resolved.source may say (which source won; never 'auto').
RESULT_SOURCES = ('parameters', 'env', 'credential_file', 'cli', 'msi', 'workload_identity')

# azure.azcollection's client id for ad_user/password without client_id: the Azure CLI's application.
CLI_CLIENT_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'

CLOUDS = _cloud.CLOUDS
STORAGE_SCOPE = _cloud.STORAGE_SCOPE

# Option -> environment variables (first one set wins). The first name is azure.azcollection's;
# AZURE_CLIENT_SECRET and AZURE_TENANT_ID (azure-identity's names) are also read.
ENV = {
    'auth_source': ('ANSIBLE_AZURE_AUTH_SOURCE',),
    'profile': ('AZURE_PROFILE',),
    'subscription_id': ('AZURE_SUBSCRIPTION_ID',),
    'client_id': ('AZURE_CLIENT_ID',),
    'secret': ('AZURE_SECRET', 'AZURE_CLIENT_SECRET'),
    'tenant': ('AZURE_TENANT', 'AZURE_TENANT_ID'),
    'ad_user': ('AZURE_AD_USER',),
    'password': ('AZURE_PASSWORD',),
    'cloud_environment': ('AZURE_CLOUD_ENVIRONMENT',),
    'cert_validation_mode': ('AZURE_CERT_VALIDATION_MODE',),
    'adfs_authority_url': ('AZURE_ADFS_AUTHORITY_URL',),
    'x509_certificate_path': ('AZURE_X509_CERTIFICATE_PATH',),
    'thumbprint': ('AZURE_THUMBPRINT',),
    'disable_instance_discovery': ('AZURE_DISABLE_INSTANCE_DISCOVERY',),
    'authority_host': ('AZURE_AUTHORITY_HOST',),
    'resource_manager_endpoint': ('AZURE_RESOURCE_MANAGER_ENDPOINT',),
    'federated_token_file': ('AZURE_FEDERATED_TOKEN_FILE',),
}
# Options whose environment variable is applied by the argument spec (it cannot change the source).
ARGSPEC_FALLBACKS = ('auth_source', 'authority_host', 'resource_manager_endpoint', 'federated_token_file')

_SPEC = {
    'auth_source': dict(type='str', default='auto', choices=list(AUTH_SOURCES)),
    'profile': dict(type='str'),
    'subscription_id': dict(type='str'),
    'client_id': dict(type='str'),
    'secret': dict(type='str', no_log=True),
    'tenant': dict(type='str'),
    'ad_user': dict(type='str'),
    'password': dict(type='str', no_log=True),
    'cloud_environment': dict(type='str'),
    'cert_validation_mode': dict(type='str', choices=['validate', 'ignore']),
    'adfs_authority_url': dict(type='str'),
    'x509_certificate_path': dict(type='path'),
    'thumbprint': dict(type='str', no_log=False),
    'disable_instance_discovery': dict(type='bool', default=False),
    'authority_host': dict(type='str'),
    'resource_manager_endpoint': dict(type='str'),
    'federated_token_file': dict(type='path'),
}
AUTH_ARGSPEC = dict(
    (name, dict(spec, fallback=(env_fallback, list(ENV[name]))) if name in ARGSPEC_FALLBACKS else dict(spec))
    for name, spec in _SPEC.items())

CREDENTIAL_KEYS = ('client_id', 'secret', 'tenant', 'ad_user', 'password', 'x509_certificate_path', 'thumbprint')
SETTING_KEYS = ('subscription_id', 'cloud_environment', 'cert_validation_mode', 'adfs_authority_url',
                'disable_instance_discovery')
# Keys azure.azcollection reads from a ~/.azure/credentials profile.
PROFILE_KEYS = CREDENTIAL_KEYS + SETTING_KEYS
SECRET_KEYS = ('secret', 'password')
# Environment variables whose presence means "the environment holds a credential" (auto).
_ENV_CREDENTIAL_MARKERS = ('AZURE_SECRET', 'AZURE_CLIENT_SECRET', 'AZURE_AD_USER', 'AZURE_PASSWORD',
                           'AZURE_X509_CERTIFICATE_PATH')

_TRUE = ('1', 'true', 'yes', 'on', 'y', 't')
_FALSE = ('0', 'false', 'no', 'off', 'n', 'f', '')


def _given(value):
    return value is not None and value != ''


class Resolved(object):
    """What ``resolve`` found: the credential and where it came from. Holds no secret but in ``credential``."""

    def __init__(self, source, credential, subscription_id, cloud, connection_verify, kind,
                 tenant=None, client_id=None, profile=None, warnings_=None, deprecations=None):
        self.source = source
        self.credential = credential
        self.subscription_id = subscription_id
        self.cloud = cloud
        self.connection_verify = connection_verify
        self.kind = kind  # client_secret, certificate, user_password, managed_identity, azure_cli, workload_identity
        self.tenant = tenant
        self.client_id = client_id
        self.profile = profile
        self.warnings = list(warnings_ or [])
        self.deprecations = list(deprecations or [])

    def summary(self):
        """Safe to return in a module result: names and ids, never a secret."""
        result = {
            'source': self.source,
            'credential': self.kind,
            'cloud': self.cloud.name,
            'resource_manager': self.cloud.resource_manager,
            'authority_host': self.cloud.authority_host,
            'subscription_id': self.subscription_id,
            'tenant': self.tenant,
            'client_id': self.client_id,
            'cert_validation_mode': 'validate' if self.connection_verify else 'ignore',
        }
        if self.profile:
            result['profile'] = self.profile
        return result

    def __repr__(self):
        return 'Resolved(%r)' % (self.summary(),)


class _AutoManagedIdentity(object):
    """The managed identity that ``auth_source=auto`` falls back to, failing with what was tried."""

    TRIED = ('no profile, client_id or ad_user option; no credential in the AZURE_* environment variables; '
             'no [default] profile with a subscription_id in %s; no Azure CLI login in %s')

    def __init__(self, credential, credentials_path, cli_path):
        self.credential = credential
        self._tried = self.TRIED % (credentials_path, cli_path)

    def _call(self, method, scopes, kwargs):
        try:
            return getattr(self.credential, method)(*scopes, **kwargs)
        except Exception as exc:
            if type(exc).__name__ != 'CredentialUnavailableError':
                raise
            raise load_identity().CredentialUnavailableError(
                message='auth_source=auto found no credential (%s), and the managed identity of this machine is not '
                        'available either (%s). Give client_id, secret and tenant (or AZURE_CLIENT_ID, AZURE_SECRET '
                        'and AZURE_TENANT), a profile in ~/.azure/credentials, or run "az login"'
                        % (self._tried, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)) from None

    def get_token(self, *scopes, **kwargs):
        return self._call('get_token', scopes, kwargs)

    def get_token_info(self, *scopes, **kwargs):
        if not hasattr(self.credential, 'get_token_info'):
            return self._call('get_token', scopes, kwargs)
        return self._call('get_token_info', scopes, kwargs)

    def close(self):
        close = getattr(self.credential, 'close', None)
        if close:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()


def _show(value):
    """A bad setting's value in a message: only when it cannot be a secret pasted in the wrong place."""
    text = str(value)
    return repr(text) if re.match(r'^[A-Za-z0-9_.-]{0,12}$', text) else '(a value not shown here)'


def _to_bool(value, origin):
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise AuthConfigError('%s must be true or false, not %s.' % (origin, _show(value)))


class _Resolver(object):
    """One resolution: reads options, environment, credentials file and Azure CLI profile."""

    def __init__(self, params, env, home, fetch):
        self.params = params or {}
        self.env = os.environ if env is None else env
        self.home = os.path.expanduser('~') if home is None else home
        self.fetch = fetch
        self.warnings = []
        self.deprecations = []
        self.credentials_path = os.path.join(self.home, '.azure', 'credentials')
        config_dir = self.env.get('AZURE_CONFIG_DIR') or os.path.join(self.home, '.azure')
        self.cli_dir = config_dir
        self.profile_name = None
        self._cli = False  # not read yet

    # -- lookups ----------------------------------------------------------------------------------
    def opt(self, name):
        value = self.params.get(name)
        if not _given(value) and name in ARGSPEC_FALLBACKS:
            return self.envv(name)  # what the argument spec's fallback gives a module
        return value if _given(value) else None

    def envv(self, name):
        for var in ENV[name]:
            value = self.env.get(var)
            if _given(value):
                return value
        return None

    # -- ~/.azure/credentials ---------------------------------------------------------------------
    def read_profile(self, name, origin, required):
        """The keys of profile ``name`` (dict), or None when absent and not ``required``."""
        path = self.credentials_path
        if not os.path.exists(path):
            if not required:
                return None
            raise AuthConfigError(
                '%s names profile %r, but %s does not exist. Create it (an INI file: [%s] with subscription_id, '
                'client_id, secret and tenant, or ad_user and password), or choose another auth_source.'
                % (origin, name, path, name))
        config = configparser.ConfigParser(interpolation=None)
        try:
            with open(path, encoding='utf-8') as f:
                config.read_file(f, source=path)
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthConfigError('Cannot read %s (%s): check that it exists and is readable by the user running '
                                  'the module.' % (path, getattr(exc, 'strerror', None) or type(exc).__name__)) from None
        except configparser.Error as exc:
            line = getattr(exc, 'lineno', None)
            if line is None and getattr(exc, 'errors', None):
                line = exc.errors[0][0]
            raise AuthConfigError('%s is not a valid INI file (%s%s): fix it; each profile is a [section] of '
                                  'key = value lines.' % (path, type(exc).__name__,
                                                          ', line %s' % line if line else '')) from None
        if not config.has_section(name):
            if not required:
                return None
            raise AuthConfigError('%s names profile %r, which %s does not have (profiles there: %s). Set profile '
                                  '(or AZURE_PROFILE) to one of them, or add a [%s] section.'
                                  % (origin, name, path, ', '.join(config.sections()) or 'none', name))
        values = dict((key, config.get(name, key)) for key in PROFILE_KEYS if config.has_option(name, key))
        values = dict((k, v.strip()) for k, v in values.items() if _given(v.strip()))
        if any(k in values for k in SECRET_KEYS):
            try:
                mode = os.stat(path).st_mode
            except OSError:
                mode = 0
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                self.warnings.append('%s holds a secret and is readable by other users: chmod 600 it.' % path)
        self.profile_name = name
        return values

    # -- Azure CLI --------------------------------------------------------------------------------
    def cli_profile(self):
        """(subscriptions, default subscription) from the Azure CLI's azureProfile.json, or None."""
        if self._cli is not False:
            return self._cli
        self._cli = None
        path = os.path.join(self.cli_dir, 'azureProfile.json')
        try:
            with open(path, 'rb') as f:
                data = json.loads(f.read().decode('utf-8-sig'))
            subscriptions = [s for s in data.get('subscriptions') or [] if isinstance(s, dict) and s.get('id')]
        except (OSError, ValueError, AttributeError):
            return None
        if subscriptions:
            default = [s for s in subscriptions if s.get('isDefault')] or subscriptions[:1]
            self._cli = (subscriptions, default[0])
        return self._cli

    def cli_cloud(self):
        """The Azure CLI's active cloud, as (value, origin) for resolve_cloud, or a Cloud, or None."""
        config = configparser.ConfigParser(interpolation=None)
        try:
            config.read(os.path.join(self.cli_dir, 'config'), encoding='utf-8')
        except (configparser.Error, UnicodeDecodeError):
            pass
        name = config.get('cloud', 'name', fallback=None) if config.has_section('cloud') else None
        if not name:
            cli = self.cli_profile()
            name = cli[1].get('environmentName') if cli else None
        if not name or _cloud.known_cloud(name):
            return name
        clouds = configparser.ConfigParser(interpolation=None)
        try:
            clouds.read(os.path.join(self.cli_dir, 'clouds.config'), encoding='utf-8')
        except (configparser.Error, UnicodeDecodeError):
            pass
        found = _cloud.cloud_from_cli_config(name, dict(clouds.items(name))) if clouds.has_section(name) else None
        if found is None:
            raise AuthConfigError('The Azure CLI\'s active cloud is %r, which is neither a cloud name (%s) nor '
                                  'registered with its endpoints in %s. Set cloud_environment (or '
                                  'AZURE_CLOUD_ENVIRONMENT) to its name or Resource Manager URL.'
                                  % (name, ', '.join(sorted(_cloud.CLOUDS)), os.path.join(self.cli_dir,
                                                                                          'clouds.config')))
        return found

    # -- environment ------------------------------------------------------------------------------
    def env_values(self):
        return dict((key, self.envv(key)) for key in PROFILE_KEYS if self.envv(key) is not None)

    def env_has_credential(self):
        if any(_given(self.env.get(var)) for var in _ENV_CREDENTIAL_MARKERS):
            return True
        # AWX injects an empty AZURE_SECRET when the credential has none: client id + tenant still count.
        return bool(self.envv('client_id') and self.envv('tenant'))

    # -- the source -------------------------------------------------------------------------------
    def auth_source(self):
        raw = self.opt('auth_source') or 'auto'
        source = str(raw).strip()
        if source not in AUTH_SOURCES:
            raise AuthConfigError('auth_source (or ANSIBLE_AZURE_AUTH_SOURCE) must be one of %s, not %s.'
                                  % (', '.join(s for s in AUTH_SOURCES if s not in DEPRECATED_SOURCES), _show(source)))
        if source in DEPRECATED_SOURCES:
            new = DEPRECATED_SOURCES[source]
            self.deprecations.append(
                'auth_source=%s is deprecated and will be removed in vmimage.azure %s: use auth_source=%s '
                '(a service principal given as options, client_id, secret and tenant, is still used; without '
                'options it reads ~/.azure/credentials) or leave auth_source at auto.'
                % (source, DEPRECATION_VERSION, new))
            source = new
        return source

    def options_have_credential(self):
        return any(self.opt(k) for k in ('client_id', 'ad_user', 'secret', 'password', 'x509_certificate_path'))

    def select(self, source):
        """(winning source, values from that source) — no network."""
        if source in ('msi', 'cli', 'workload_identity'):
            return source, {}
        if source == 'env':
            if self.envv('profile'):
                return 'credential_file', self.read_profile(self.envv('profile'), 'AZURE_PROFILE', True)
            return 'env', self.env_values()
        if source == 'credential_file':
            name, origin = self.opt('profile'), 'profile'
            if not name:
                name, origin = (self.envv('profile'), 'AZURE_PROFILE') if self.envv('profile') else ('default', None)
            if origin is None:
                origin = 'auth_source=credential_file'
            values = self.read_profile(name, origin, required=not self.options_have_credential())
            if values is None:
                return 'parameters', {}  # no such profile: the credential given as options
            return 'credential_file', values
        # auto, in azure.azcollection's order
        if self.opt('profile'):
            return 'credential_file', self.read_profile(self.opt('profile'), 'profile', True)
        if self.options_have_credential():
            # azure.azcollection: client_id or ad_user; a lone secret / password / certificate too, so that
            # it is reported as incomplete instead of being silently ignored
            return 'parameters', {}
        if self.envv('profile'):
            return 'credential_file', self.read_profile(self.envv('profile'), 'AZURE_PROFILE', True)
        if self.env_has_credential():
            return 'env', self.env_values()
        default = self.read_profile('default', 'the default profile', False)
        if default and default.get('subscription_id'):
            return 'credential_file', default
        self.profile_name = None
        if self.cli_profile():
            return 'cli', {}
        return 'msi', {}

    # -- settings ---------------------------------------------------------------------------------
    def setting(self, name, source, values):
        """(value, origin) of a setting: option, profile, environment variable."""
        if self.opt(name) is not None:
            return self.opt(name), name
        if source == 'credential_file' and _given(values.get(name)):
            return values[name], '%s in profile [%s] of %s' % (name, self.profile_name, self.credentials_path)
        value = self.envv(name)
        if value is not None:
            return value, [v for v in ENV[name] if _given(self.env.get(v))][0]
        return None, None

    def hint(self, keys, source):
        """Where to set the credential values ``keys``, for messages (options and environment variables)."""
        names = ' and '.join(keys)
        env = ', '.join(' / '.join(ENV[k]) for k in keys)
        if source == 'env':
            return '%s (or the option%s %s)' % (env, 's' if len(keys) > 1 else '', names)
        if source == 'credential_file':
            plural = 's' if len(keys) > 1 else ''
            return '%s in profile [%s] of %s (or as option%s)' % (names, self.profile_name, self.credentials_path,
                                                                  plural)
        return ('the option%s %s (the environment variables %s are read only when the whole credential comes from '
                'the environment)' % ('s' if len(keys) > 1 else '', names, env))

    # -- credentials ------------------------------------------------------------------------------
    def entra(self, cloud, verify, adfs_url, discovery_off):
        """(tenant override, kwargs) for an MSAL-based azure-identity credential."""
        authority_host = self.opt('authority_host')
        login_tenant = cloud.login_tenant
        if adfs_url:
            host, _tenant = _cloud.split_authority(adfs_url[0], adfs_url[1])
            login_tenant = 'adfs'
        elif authority_host:
            host, path_tenant = _cloud.split_authority(authority_host, 'authority_host (or AZURE_AUTHORITY_HOST)')
            login_tenant = path_tenant
        else:
            host = cloud.authority_host
        kwargs = dict(authority=host)
        if discovery_off or login_tenant == 'adfs' or not _cloud.is_well_known_authority(host):
            kwargs['disable_instance_discovery'] = True
        if not verify:
            kwargs['connection_verify'] = False
        return login_tenant, kwargs

    def build(self, source, values, cloud, verify, adfs_url, discovery_off):
        """(credential, kind, tenant, client_id, final source, authority host or None)."""
        merged = dict(values)
        for key in CREDENTIAL_KEYS:
            if self.opt(key) is not None:
                merged[key] = self.opt(key)
        fed = self.opt('federated_token_file')

        if source == 'msi':
            client_id = self.opt('client_id') or self.envv('client_id')
            return (identity.ManagedIdentityCredential(client_id=client_id), 'managed_identity', None, client_id,
                    source, None)
        if source == 'cli':
            tenant = self.opt('tenant')
            cli = self.cli_profile()
            if not tenant and cli:  # the tenant of the subscription used (az's default otherwise)
                wanted = self.subscription(source, values)[0]
                match = [s for s in cli[0] if s.get('id') == wanted]
                tenant = (match[0].get('tenantId') if match else None) or None
            return identity.AzureCliCredential(tenant_id=tenant or ''), 'azure_cli', tenant, None, source, None
        if source == 'workload_identity':
            merged = dict(client_id=self.opt('client_id') or self.envv('client_id'),
                          tenant=self.opt('tenant') or self.envv('tenant'))
            missing = [k for k in ('client_id', 'tenant') if not merged[k]] + ([] if fed else ['federated_token_file'])
            if missing:
                raise AuthConfigError('auth_source=workload_identity needs client_id, tenant and federated_token_file; '
                                      'missing: %s. Set %s.' % (', '.join(missing), ' and '.join(
                                          '%s (or %s)' % (k, ' / '.join(ENV[k])) for k in missing)))

        login_tenant, kwargs = self.entra(cloud, verify, adfs_url, discovery_off)
        client_id, tenant = merged.get('client_id'), merged.get('tenant')
        if login_tenant == 'adfs':
            if tenant and tenant.lower() != 'adfs':
                self.warnings.append('tenant %r is not used with ADFS (%s): the tenant is adfs.'
                                     % (tenant, kwargs['authority']))
            tenant = 'adfs'
        elif not tenant and login_tenant:
            tenant = login_tenant

        def need(what, keys):
            missing = [k for k in keys if not _given(merged.get(k)) and not (k == 'tenant' and tenant)]
            if missing:
                raise AuthConfigError('%s needs %s; missing: %s. Set %s.' % (
                    what, ', '.join(keys), ', '.join(missing), self.hint(missing, source)))

        other = any(merged.get(k) for k in ('secret', 'x509_certificate_path', 'ad_user', 'password'))
        if source == 'workload_identity' or (client_id and fed and not other):
            need('workload identity', ('client_id', 'tenant'))
            cred = identity.WorkloadIdentityCredential(tenant_id=tenant, client_id=client_id, token_file_path=fed,
                                                       **kwargs)
            return cred, 'workload_identity', tenant, client_id, 'workload_identity', kwargs['authority']
        if _given(merged.get('secret')):
            need('a service principal with a client secret', ('client_id', 'secret', 'tenant'))
            return (identity.ClientSecretCredential(tenant, client_id, merged['secret'], **kwargs),
                    'client_secret', tenant, client_id, source, kwargs['authority'])
        if merged.get('x509_certificate_path'):
            need('a client certificate (x509_certificate_path)', ('client_id', 'tenant'))
            path = merged['x509_certificate_path']
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                raise AuthConfigError('x509_certificate_path (or AZURE_X509_CERTIFICATE_PATH) is %s, which is not a '
                                      'readable file: give the PEM file holding the private key and the certificate.'
                                      % path)
            try:
                cred = identity.CertificateCredential(tenant, client_id, certificate_path=path, **kwargs)
            except (ValueError, TypeError) as exc:  # TypeError: an encrypted private key
                raise AuthConfigError('x509_certificate_path %s cannot be used: %s. It must be a PEM (or PKCS12) file '
                                      'with the private key and the certificate, without a password.'
                                      % (path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)) from None
            return cred, 'certificate', tenant, client_id, source, kwargs['authority']
        if merged.get('ad_user') or merged.get('password'):
            need('ad_user/password authentication', ('ad_user', 'password'))
            client_id = client_id or CLI_CLIENT_ID
            tenant = tenant or 'organizations'
            with warnings.catch_warnings():  # azure-identity deprecates it (no MFA); azure.azcollection offers it
                warnings.simplefilter('ignore', DeprecationWarning)
                cred = identity.UsernamePasswordCredential(client_id, merged['ad_user'], merged['password'],
                                                           tenant_id=tenant, **kwargs)
            return cred, 'user_password', tenant, client_id, source, kwargs['authority']
        if client_id:
            empty = [v for v in ENV['secret'] if v in self.env and not self.env[v]] if source == 'env' else []
            raise AuthConfigError(
                'client_id is set (%s) but no secret%s, x509_certificate_path or ad_user/password: set %s for a '
                'service principal; for a user-assigned managed identity use auth_source=msi.'
                % (self._where('client_id', source), ' (%s is empty)' % empty[0] if empty else '',
                   self.hint(['secret'], source)))
        if source == 'env':
            raise AuthConfigError(
                'auth_source=env found no credential in the environment: set AZURE_CLIENT_ID, AZURE_SECRET and '
                'AZURE_TENANT (service principal), AZURE_CLIENT_ID, AZURE_TENANT and AZURE_X509_CERTIFICATE_PATH '
                '(certificate), AZURE_AD_USER and AZURE_PASSWORD, or AZURE_PROFILE (a profile of ~/.azure/credentials).')
        if source == 'credential_file':
            raise AuthConfigError(
                'profile [%s] of %s has no credential: give it client_id, secret and tenant, or ad_user and password.'
                % (self.profile_name, self.credentials_path))
        raise AuthConfigError('No credential given: set client_id, secret and tenant, or ad_user and password.')

    def _where(self, key, source):
        if self.opt(key) is not None:
            return 'option %s' % key
        if source == 'credential_file':
            return '%s in profile [%s]' % (key, self.profile_name)
        return [v for v in ENV[key] if _given(self.env.get(v))][0] if self.envv(key) else key

    def subscription(self, source, values):
        value, origin = self.setting('subscription_id', source, values)
        if value is None and source == 'cli' and self.cli_profile():
            value, origin = self.cli_profile()[1].get('id'), 'the Azure CLI\'s default subscription'
        return value, origin

    # -- all of it --------------------------------------------------------------------------------
    def run(self):
        requested = self.auth_source()
        source, values = self.select(requested)
        if requested in ('msi', 'cli') or source in ('msi', 'cli'):
            ignored = [k for k in ('secret', 'password', 'ad_user', 'x509_certificate_path', 'profile')
                       if self.opt(k) is not None]
            if ignored and requested != 'auto':
                self.warnings.append('%s %s not used with auth_source=%s.' % (
                    ', '.join(ignored), 'is' if len(ignored) == 1 else 'are', requested))

        mode, mode_origin = self.setting('cert_validation_mode', source, values)
        mode = (mode or 'validate').strip()
        if mode.lower() in ('validate', 'ignore'):
            mode = mode.lower()
        if mode not in ('validate', 'ignore'):
            raise AuthConfigError('%s must be validate or ignore, not %s.' % (mode_origin, _show(mode)))
        verify = mode != 'ignore'
        if not verify:
            self.warnings.append('cert_validation_mode=ignore (from %s): TLS certificates of the cloud metadata, '
                                 'Entra ID and Resource Manager endpoints are not verified.' % mode_origin)

        # azure.azcollection: the option, or the profile's, or the environment's (any of them true)
        discovery_off = bool(self.opt('disable_instance_discovery'))
        if source == 'credential_file' and _given(values.get('disable_instance_discovery')):
            discovery_off = discovery_off or _to_bool(values['disable_instance_discovery'],
                                                      'disable_instance_discovery in profile [%s] of %s'
                                                      % (self.profile_name, self.credentials_path))
        if self.envv('disable_instance_discovery') is not None:
            discovery_off = discovery_off or _to_bool(self.envv('disable_instance_discovery'),
                                                      'AZURE_DISABLE_INSTANCE_DISCOVERY')

        cloud = self.cloud(source, values, verify)

        adfs, adfs_origin = self.setting('adfs_authority_url', source, values)
        adfs_url = None
        if adfs:
            adfs_url = (adfs, 'adfs_authority_url' if adfs_origin == 'adfs_authority_url' else
                        '%s (adfs_authority_url)' % adfs_origin)
            _cloud.split_authority(*adfs_url)
        if self.opt('authority_host'):
            _cloud.split_authority(self.opt('authority_host'), 'authority_host (or AZURE_AUTHORITY_HOST)')

        load_identity()  # MissingLibrary: reported once every option has been checked
        credential, kind, tenant, client_id, source, authority = self.build(source, values, cloud, verify, adfs_url,
                                                                            discovery_off)
        if authority:
            cloud = cloud._replace(authority_host=authority)
        if requested == 'auto' and source == 'msi':
            credential = _AutoManagedIdentity(credential, self.credentials_path,
                                              os.path.join(self.cli_dir, 'azureProfile.json'))
        subscription_id = self.subscription(source, values)[0]
        return Resolved(source, credential, subscription_id, cloud, verify, kind, tenant=tenant, client_id=client_id,
                        profile=self.profile_name if source == 'credential_file' else None,
                        warnings_=self.warnings, deprecations=self.deprecations)

    def cloud(self, source, values, verify):
        """The Cloud: cloud_environment (option, profile, AZURE_CLOUD_ENVIRONMENT, Azure CLI), overrides applied."""
        value, origin = self.setting('cloud_environment', source, values)
        found = None
        if value is None and source == 'cli':
            found = self.cli_cloud()
            if not isinstance(found, _cloud.Cloud):
                value, origin, found = found, 'the Azure CLI\'s active cloud', None
        if origin in ('cloud_environment', 'AZURE_CLOUD_ENVIRONMENT', None):
            origin = 'cloud_environment (or AZURE_CLOUD_ENVIRONMENT)'
        cloud = found or _cloud.resolve_cloud(value, verify=verify, fetch=self.fetch, origin=origin)
        arm = self.opt('resource_manager_endpoint')
        if arm:  # the endpoint only; tokens keep the cloud's audience
            _cloud.split_authority(arm, 'resource_manager_endpoint (or AZURE_RESOURCE_MANAGER_ENDPOINT)')
            cloud = cloud._replace(resource_manager=arm.rstrip('/'))
        return cloud


def resolve(params, env=None, home=None, fetch=None):
    """Resolve the authentication options into a ``Resolved`` (credential, cloud, subscription, source).

    ``env`` defaults to os.environ, ``home`` to the user's home directory (``~/.azure``);
    ``fetch`` replaces ``cloud.fetch_metadata`` (unit tests). Raises AuthConfigError."""
    return _Resolver(params, env, home, fetch).run()


def build_credential(params):
    """The azure-identity TokenCredential the options describe (no network but a cloud's metadata)."""
    return resolve(params).credential
