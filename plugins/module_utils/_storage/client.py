# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Build a ``BlobClient`` for a page blob from plain options, with a counting retry policy.

Nothing here knows about AnsibleModule. Destinations: ``blob_url`` (may carry a SAS), or
``account_url`` + ``container`` + ``blob``, or ``connection_string`` + ``container`` + ``blob``.
Credentials: ``sas_token``, ``account_key``, the connection string's own, a SAS already in
``blob_url``, else the ``token_credential`` given by the caller (Entra ID).
"""

from __future__ import annotations

import logging
import re
import threading

from urllib.parse import quote, unquote, urlsplit, urlunsplit

IMPORT_ERROR = None
try:
    import requests
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.core.pipeline.policies import RetryPolicy
    from azure.core.pipeline.transport import RequestsTransport
    from azure.storage.blob import BlobClient, LocationMode
    from urllib3.util.retry import Retry
except ImportError as exc:  # pragma: no cover - reported by the module via missing_required_lib
    IMPORT_ERROR = exc
    RetryPolicy = RequestsTransport = object

# The storage SDK logs request details at INFO/DEBUG; keep all of it out of module output.
logging.getLogger('azure').addHandler(logging.NullHandler())


class ClientOptionsError(ValueError):
    """The destination or credential options are inconsistent."""


class CountingRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy (500/502/503/504/408/429 and Retry-After, connection resets and
    timeouts) that counts the retries it makes; ``retry_total`` bounds every kind of retry."""

    def __init__(self, retry_total=10, **kwargs):
        for kind in ('retry_connect', 'retry_read', 'retry_status'):
            kwargs.setdefault(kind, retry_total)
        super(CountingRetryPolicy, self).__init__(retry_total=retry_total, **kwargs)
        self._lock = threading.Lock()
        self.retries = 0

    def send(self, request):
        # The storage pipeline passes options meant for its own retry policy (secondary hosts);
        # this client only ever talks to the primary endpoint.
        for key in ('hosts', 'location_mode', 'retry_to_secondary', 'retry_hook'):
            request.context.options.pop(key, None)
        response = super(CountingRetryPolicy, self).send(request)
        response.http_response.location_mode = LocationMode.PRIMARY
        return response

    def get_retry_after(self, response):
        """Honour Retry-After, but never wait longer than ``retry_backoff_max``."""
        after = super(CountingRetryPolicy, self).get_retry_after(response)
        return None if after is None else min(after, self.backoff_max)

    def increment(self, settings, response=None, error=None):
        more = super(CountingRetryPolicy, self).increment(settings, response=response, error=error)
        if more:
            with self._lock:
                self.retries += 1
        return more


class PooledTransport(RequestsTransport):
    """RequestsTransport whose connection pool holds ``pool_size`` connections, so that
    ``concurrency`` parallel requests reuse connections instead of opening new ones."""

    def __init__(self, pool_size=10, **kwargs):
        super(PooledTransport, self).__init__(**kwargs)
        self._pool_size = pool_size

    def _init_session(self, session):
        super(PooledTransport, self)._init_session(session)
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=2, pool_maxsize=self._pool_size,
            max_retries=Retry(total=False, redirect=False, raise_on_status=False))
        for prefix in ('http://', 'https://'):
            session.mount(prefix, adapter)


def public_url(url):
    """``url`` without query string or fragment (a SAS token never leaves this function)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, '', ''))


# The query parameters of a SAS that are secret: the signature. The others (version, expiry,
# permissions, resource, the signed key's object and tenant ids, ...) only describe it.
SAS_SECRET_FIELDS = ('sig',)


def _forms(value):
    """``value`` as given, URL-decoded and URL-encoded: the ways it may appear in a message."""
    decoded = unquote(value)
    return {value, decoded, quote(decoded, safe='')} - {''}


def sas_secrets(sas):
    """What of a SAS token (a query string, with or without ``?``) must never be shown: the token
    itself and its signature, in the forms they may take."""
    sas = (sas or '').strip().lstrip('?')
    if not sas:
        return set()
    found = {sas}
    for field in sas.split('&'):
        name, _sep, value = field.partition('=')
        if unquote(name).lower() in SAS_SECRET_FIELDS and value:
            found |= _forms(value)
    return found


def _connection_string_fields(text):
    fields = {}
    for item in (text or '').split(';'):
        name, sep, value = item.partition('=')
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


def secret_values(params):
    """Every secret the destination and credential options hold, as the strings to mask.

    ``blob_url`` and ``account_url`` are not secrets, but their query string may be a SAS;
    ``account_key``, ``sas_token`` and ``connection_string`` are (Ansible masks them whole), and
    the key or SAS inside a connection string may also be shown on its own. Pure: no SDK needed.
    """
    get = params.get
    found = set()
    for name in ('blob_url', 'account_url'):
        if get(name):
            found |= sas_secrets(urlsplit(get(name)).query)
    found |= sas_secrets(get('sas_token'))
    if get('account_key'):
        found |= _forms(get('account_key'))
    fields = _connection_string_fields(get('connection_string'))
    if fields.get('accountkey'):
        found |= _forms(fields['accountkey'])
    found |= sas_secrets(fields.get('sharedaccesssignature'))
    return found


_AUTH_HINTS = {
    'key': 'check account_key and the account name in the URL',
    'connection_string': 'check the AccountKey (or SharedAccessSignature) of connection_string',
    'sas': 'check that the SAS token has not expired (or started in the future), is signed with a valid key '
           'and grants read, create and write (rcw) permissions on the blob',
    'token': 'check that the Entra ID identity has the Storage Blob Data Contributor role on the '
             'container or account',
}


def explain(exc, auth):
    """One secret-free-able line for an exception from the storage service, with a hint on what to
    fix when the service refused the credential (``auth``: key, connection_string, sas, token)."""
    from ansible_collections.vmimage.azure.plugins.module_utils._azure.errors import describe_error
    status = getattr(exc, 'status_code', None)
    if status not in (401, 403):
        return describe_error(exc)
    code = getattr(exc, 'error_code', None)
    code = getattr(code, 'value', code)
    lines = [line.strip() for line in str(getattr(exc, 'message', None) or exc).splitlines() if line.strip()]
    message = re.sub(r"^Operation returned an invalid status '(.*)'$", r'\1', lines[0] if lines else '')
    return 'Azure Storage refused the request (HTTP %s%s): %s To fix it, %s.' % (
        status, ' ' + code if code else '', message.rstrip('.') + '.', _AUTH_HINTS.get(auth, _AUTH_HINTS['token']))


def build_blob_client(params, token_credential=None, concurrency=8, retry_policy=None):
    """Return ``(BlobClient, CountingRetryPolicy, auth)`` for the destination described by ``params``
    (keys: blob_url, account_url, connection_string, container, blob, account_key, sas_token,
    retry_total, retry_backoff_factor, retry_backoff_max, timeout, api_version).

    ``token_credential`` is a callable returning a TokenCredential, used (lazily) only when no
    key, SAS or connection string is given. ``auth`` names the kind of credential used (key,
    connection_string, sas, token), for :func:`explain`.
    """
    if IMPORT_ERROR is not None:
        raise IMPORT_ERROR
    get = params.get
    given = [k for k in ('blob_url', 'account_url', 'connection_string') if get(k)]
    if len(given) != 1:
        raise ClientOptionsError('Give exactly one of blob_url, account_url or connection_string.')
    if get('account_key') and get('sas_token'):
        raise ClientOptionsError('account_key and sas_token are mutually exclusive.')
    if get('blob_url') and (get('container') or get('blob')):
        raise ClientOptionsError('blob_url names the blob already; do not also give container or blob.')
    if not get('blob_url') and not (get('container') and get('blob')):
        raise ClientOptionsError('%s needs container and blob.' % given[0])
    if get('connection_string') and (get('account_key') or get('sas_token')):
        raise ClientOptionsError('The connection string carries its own credential; '
                                 'do not also give account_key or sas_token.')

    retry = retry_policy or CountingRetryPolicy(
        retry_total=get('retry_total', 5) if get('retry_total') is not None else 5,
        retry_backoff_factor=get('retry_backoff_factor') if get('retry_backoff_factor') is not None else 0.8,
        retry_backoff_max=get('retry_backoff_max') if get('retry_backoff_max') is not None else 60,
    )
    timeout = get('timeout') or 120
    kwargs = dict(retry_policy=retry,
                  transport=PooledTransport(pool_size=max(10, concurrency + 2),
                                            connection_timeout=min(timeout, 30), read_timeout=timeout),
                  logging_enable=False)
    if get('api_version'):
        kwargs['api_version'] = get('api_version')

    if get('connection_string'):
        client = BlobClient.from_connection_string(get('connection_string'), get('container'),
                                                   get('blob'), **kwargs)
        return client, retry, 'connection_string'
    url_option = 'blob_url' if get('blob_url') else 'account_url'
    in_url_sas = bool(get(url_option) and urlsplit(get(url_option)).query)
    if in_url_sas and (get('account_key') or get('sas_token')):
        raise ClientOptionsError('%s carries a query string (a SAS); do not also give account_key or sas_token.'
                                 % url_option)
    if get('blob_url'):
        url = get('blob_url')
        unbound = BlobClient.from_blob_url(public_url(url))
    else:
        url = None
        unbound = BlobClient(get('account_url'), get('container'), get('blob'))
    if get('sas_token'):
        credential, auth = get('sas_token').lstrip('?'), 'sas'
    elif get('account_key'):
        credential, auth = AzureNamedKeyCredential(unbound.account_name, get('account_key')), 'key'
    elif in_url_sas:
        credential, auth = None, 'sas'
    elif token_credential is not None:
        credential, auth = token_credential(), 'token'
    else:
        raise ClientOptionsError('No credential: give account_key, sas_token, a connection string, '
                                 'a blob_url with a SAS, or Entra ID authentication options.')
    if url is not None:
        client = BlobClient.from_blob_url(url, credential=credential, **kwargs)
    else:
        client = BlobClient(get('account_url'), get('container'), get('blob'),
                            credential=credential, **kwargs)
    return client, retry, auth
