# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Azure clouds: the public ones by name, any other by the URL of its Resource Manager.

    cloud = resolve_cloud('AzureUSGovernment')
    cloud = resolve_cloud('https://management.local.azurestack.external')   # reads its metadata

A Resource Manager announces its cloud at ``<url>/metadata/endpoints?api-version=2015-01-01``
(what the Azure CLI and azure.azcollection read for Azure Stack Hub):

    {"galleryEndpoint": "...", "graphEndpoint": "...", "portalEndpoint": "...",
     "authentication": {"loginEndpoint": "https://login.microsoftonline.com/",
                        "audiences": ["https://management.<tenant>/<guid>"]},
     "suffixes": {"storage": "..."}}        # suffixes: only some clouds

``authentication.loginEndpoint`` is the Entra ID (or ADFS: ``https://adfs.<fqdn>/adfs/``)
authority, ``authentication.audiences[0]`` the token audience for Resource Manager. Requests use
``requests`` (proxy and ``REQUESTS_CA_BUNDLE`` from the environment, as azure-core does).
"""

from __future__ import annotations

import json
import re
import warnings
from collections import namedtuple

from urllib.parse import urlsplit, urlunsplit

METADATA_SUFFIX = '/metadata/endpoints?api-version=2015-01-01'
METADATA_TIMEOUT = 10  # seconds, for the connection and for the answer
METADATA_ATTEMPTS = 3  # HTTP 429 / 5xx are tried again (urllib3's Retry, honouring Retry-After)
METADATA_BACKOFF = 0.5  # seconds; urllib3 doubles it at each retry
STORAGE_SCOPE = 'https://storage.azure.com/.default'
OPTION = 'cloud_environment (or AZURE_CLOUD_ENVIRONMENT)'

Cloud = namedtuple('Cloud', 'name resource_manager authority_host audience arm_scope storage_suffix custom login_tenant')
Cloud.__doc__ = """An Azure cloud.

``name``: the cloud's name, or the Resource Manager URL of a custom cloud; ``resource_manager``:
Resource Manager endpoint (no trailing slash); ``authority_host``: Entra ID / ADFS authority host
(``https://host``, no path); ``audience``: Resource Manager token audience; ``arm_scope``:
``audience + '/.default'``; ``storage_suffix``: storage endpoint suffix or None; ``custom``: read
from a metadata endpoint (or the Azure CLI's clouds.config); ``login_tenant``: the tenant the
login endpoint names in its path (``adfs`` for ADFS), else None."""


class AuthConfigError(ValueError):
    """The authentication options are incomplete or inconsistent; the message says what to set."""


def _scope(audience):
    return audience.rstrip('/') + '/.default'


def _public(name, authority_host, resource_manager, storage_suffix):
    return Cloud(name, resource_manager, authority_host, resource_manager, _scope(resource_manager),
                 storage_suffix, False, None)


# The clouds azure.azcollection knows by name (the Azure CLI's: azure.cli.core.cloud), minus the
# retired AzureGermanCloud. The Resource Manager audience is the one the azure-mgmt SDK uses.
CLOUDS = {
    'AzureCloud': _public('AzureCloud', 'https://login.microsoftonline.com', 'https://management.azure.com',
                          'core.windows.net'),
    'AzureUSGovernment': _public('AzureUSGovernment', 'https://login.microsoftonline.us',
                                 'https://management.usgovcloudapi.net', 'core.usgovcloudapi.net'),
    'AzureChinaCloud': _public('AzureChinaCloud', 'https://login.chinacloudapi.cn',
                               'https://management.chinacloudapi.cn', 'core.chinacloudapi.cn'),
}
DEFAULT_CLOUD = 'AzureCloud'

# Authority hosts MSAL knows (its instance discovery validates them at login.microsoftonline.com);
# for any other host instance discovery is turned off, or MSAL would ask Microsoft about it.
WELL_KNOWN_AUTHORITY_HOSTS = frozenset([
    'login.microsoftonline.com', 'login.microsoft.com', 'login.windows.net', 'sts.windows.net',
    'login.chinacloudapi.cn', 'login.partner.microsoftonline.cn', 'login.microsoftonline.de',
    'login-us.microsoftonline.com', 'login.microsoftonline.us', 'login.usgovcloudapi.net',
    'login.sovcloud-identity.fr', 'login.sovcloud-identity.de', 'login.sovcloud-identity.sg',
])


def known_cloud(name):
    """The public cloud called ``name`` (case-insensitive), or None."""
    for key, cloud in CLOUDS.items():
        if key.lower() == (name or '').strip().lower():
            return cloud
    return None


def is_well_known_authority(url):
    """True when the authority's host is one MSAL's instance discovery knows."""
    try:
        host = (urlsplit(url).hostname or '').lower()
    except ValueError:
        return False
    return host in WELL_KNOWN_AUTHORITY_HOSTS


def display_url(url):
    """``url`` without user information, query or fragment: safe to show."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ''
        if ':' in netloc:
            netloc = '[%s]' % netloc
        if parts.port:
            netloc += ':%d' % parts.port
    except ValueError:
        return '(an unparsable URL)'
    return urlunsplit((parts.scheme, netloc, parts.path, '', ''))


def split_authority(url, what):
    """``(https://host[:port], tenant named in the path or None)`` of an authority / login endpoint URL.

    ``https://adfs.contoso.com/adfs/`` gives ``('https://adfs.contoso.com', 'adfs')``."""
    try:
        parts = urlsplit((url or '').strip())
        _port = parts.port  # raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() != 'https' or not parts.hostname:
        raise AuthConfigError('%s must be an https:// URL, not %r.' % (what, display_url(url or '')))
    segments = [s for s in parts.path.split('/') if s]
    tenant = segments[0] if segments else None
    if tenant and tenant.lower() == 'adfs':
        tenant = 'adfs'
    return '%s://%s' % (parts.scheme.lower(), parts.netloc.rsplit('@', 1)[-1]), tenant


def _names():
    return ', '.join(sorted(CLOUDS))


def _problem(origin, url, text, todo):
    return AuthConfigError('%s is the Resource Manager URL %s, but its metadata endpoint %s %s. %s' % (
        origin, display_url(url), display_url(url) + METADATA_SUFFIX, text, todo))


_TLS_DETAIL = re.compile(r'\[SSL[^\]]*\][^(\'"]*|certificate verify failed[^(\'"]*|'
                         r'hostname [^(\'"]* doesn\'t match[^(\'"]*', re.I)


def fetch_metadata(url, verify=True, timeout=None, origin=OPTION):
    """GET ``url`` + METADATA_SUFFIX and return the decoded JSON; AuthConfigError when it does not answer."""
    import requests

    timeout = METADATA_TIMEOUT if timeout is None else timeout
    target = url.rstrip('/') + METADATA_SUFFIX
    ca_hint = ('Make the host running the module trust its certificate: set REQUESTS_CA_BUNDLE to the CA '
               'bundle that signed it (requests does not read SSL_CERT_FILE), or, only for a test '
               'cloud, set cert_validation_mode=ignore (AZURE_CERT_VALIDATION_MODE).')
    reach_hint = ('Check the URL (the Resource Manager endpoint, e.g. https://management.<region>.<fqdn>), '
                  'that it is reachable from the host running the module, and the HTTPS_PROXY / NO_PROXY '
                  'variables.')
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry
    retry = Retry(total=METADATA_ATTEMPTS - 1, connect=0, read=0, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=('GET',), backoff_factor=METADATA_BACKOFF, raise_on_status=False)
    session = requests.Session()
    session.mount('https://', HTTPAdapter(max_retries=retry))
    try:
        with warnings.catch_warnings():
            if not verify:
                warnings.simplefilter('ignore')  # urllib3's InsecureRequestWarning: the user asked for it
            response = session.get(target, timeout=timeout, verify=verify, headers={'Accept': 'application/json'})
    except requests.exceptions.SSLError as exc:
        match = _TLS_DETAIL.search(str(exc))
        detail = match.group(0).strip().rstrip(':') if match else type(exc).__name__
        raise _problem(origin, url, 'failed TLS verification (%s)' % detail, ca_hint) from None
    except requests.exceptions.Timeout:
        raise _problem(origin, url, 'did not answer within %g seconds' % timeout, reach_hint) from None
    except requests.exceptions.ConnectionError as exc:
        text = str(exc)
        if 'timed out' in text.lower():  # a read timeout under a Retry adapter comes as a ConnectionError
            raise _problem(origin, url, 'did not answer within %g seconds' % timeout, reach_hint) from None
        if 'refused' in text.lower():
            reason = 'connection refused'
        elif re.search(r'Name or service not known|nodename nor servname|getaddrinfo|resolve', text, re.I):
            reason = 'host name not found'
        else:
            reason = 'connection failed'
        raise _problem(origin, url, 'could not be reached (%s)' % reason, reach_hint) from None
    except requests.exceptions.RequestException as exc:
        raise _problem(origin, url, 'could not be read (%s)' % type(exc).__name__, reach_hint) from None
    finally:
        session.close()
    if response.status_code != 200:
        raise _problem(origin, url, 'answered HTTP %d%s' % (response.status_code, (
            ' %s' % response.reason) if response.reason else ''),
            'Check that the URL is the Resource Manager endpoint of the cloud (not its portal), without a path.')
    try:
        return json.loads(response.content.decode('utf-8-sig'))
    except ValueError:
        kind = response.headers.get('Content-Type') or 'no content type'
        raise _problem(origin, url, 'did not return JSON (%s)' % kind.split(';')[0],
                       'Check that the URL is the Resource Manager endpoint of the cloud.') from None


def cloud_from_metadata(url, metadata, origin=OPTION):
    """The Cloud described by a metadata document (the 2015-01-01 object, or a newer list of clouds)."""
    arm = url.rstrip('/')
    if isinstance(metadata, list):  # api-version 2019-05-01 and later: a list of clouds
        match = [c for c in metadata if isinstance(c, dict)
                 and str(c.get('resourceManager', '')).rstrip('/').lower() == arm.lower()]
        metadata = (match or metadata or [None])[0]
    if not isinstance(metadata, dict):
        raise _problem(origin, url, 'returned JSON that is not a metadata object',
                       'Check that the URL is the Resource Manager endpoint of the cloud.')
    auth = metadata.get('authentication')
    auth = auth if isinstance(auth, dict) else {}
    login = auth.get('loginEndpoint')
    audiences = auth.get('audiences')
    missing = []
    if not isinstance(login, str) or not login.strip():
        missing.append('authentication.loginEndpoint')
    if not isinstance(audiences, list) or not audiences or not isinstance(audiences[0], str) or not audiences[0]:
        missing.append('authentication.audiences')
    if missing:
        raise _problem(origin, url, 'returned no %s' % ' and no '.join(missing),
                       'Check that the URL is the Resource Manager endpoint of the cloud.')
    try:
        authority, tenant = split_authority(login, 'authentication.loginEndpoint')
    except AuthConfigError:
        raise _problem(origin, url, 'names a login endpoint that is not an https:// URL (%s)' % display_url(login),
                       'Fix the cloud\'s metadata, or set authority_host (AZURE_AUTHORITY_HOST).') from None
    suffixes = metadata.get('suffixes') if isinstance(metadata.get('suffixes'), dict) else {}
    storage = suffixes.get('storage') or suffixes.get('storageEndpoint')
    if not storage:
        # Azure Stack Hub: Resource Manager is management.<region>.<fqdn>, storage <account>.blob.<region>.<fqdn>
        host = urlsplit(arm).hostname or ''
        storage = host.split('.', 1)[1] if host.startswith('management.') and host.count('.') >= 2 else None
    audience = audiences[0]
    return Cloud(arm, arm, authority, audience, _scope(audience), storage.strip('.') if storage else None,
                 True, tenant)


def resolve_cloud(value, verify=True, fetch=None, origin=OPTION):
    """A Cloud from a cloud name (case-insensitive) or the https:// URL of a Resource Manager.

    ``fetch(url, verify=..., origin=...)`` returns the metadata JSON (default: fetch_metadata);
    ``origin`` says in messages where ``value`` came from."""
    value = (value or DEFAULT_CLOUD).strip()
    cloud = known_cloud(value)
    if cloud is not None:
        return cloud
    if '://' not in value:
        raise AuthConfigError('%s is %r, which is not a cloud name: use one of %s, or the https:// URL of the '
                              'Resource Manager of another cloud (Azure Stack Hub, a private cloud).'
                              % (origin, value, _names()))
    try:
        parts = urlsplit(value)
        _port = parts.port  # raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() != 'https' or not parts.hostname:
        raise AuthConfigError('%s is %s: a Resource Manager URL must start with https:// (metadata and tokens are '
                              'never fetched over plain HTTP); or use a cloud name: %s.'
                              % (origin, display_url(value) if parts else repr(value), _names()))
    if parts.query or parts.fragment or parts.username or parts.password:
        raise AuthConfigError('%s must be a plain Resource Manager URL (https://host[:port]), without user, query '
                              'or fragment; got %s.' % (origin, display_url(value)))
    url = urlunsplit(('https', parts.netloc, parts.path.rstrip('/'), '', ''))
    metadata = (fetch or fetch_metadata)(url, verify=verify, origin=origin)
    return cloud_from_metadata(url, metadata, origin=origin)


def cloud_from_cli_config(name, section):
    """A Cloud from a section of the Azure CLI's clouds.config (``az cloud register``), or None."""
    arm = section.get('endpoint_resource_manager')
    login = section.get('endpoint_active_directory')
    audience = section.get('endpoint_active_directory_resource_id') or arm
    if not arm or not login:
        return None
    authority, tenant = split_authority(login, 'endpoint_active_directory of cloud %s in clouds.config' % name)
    return Cloud(name, arm.rstrip('/'), authority, audience, _scope(audience),
                 (section.get('suffix_storage_endpoint') or '').strip('.') or None, True, tenant)
