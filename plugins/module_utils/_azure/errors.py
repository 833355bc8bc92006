# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Turn any exception raised while talking to Azure into one clear, secret-free message."""

from __future__ import annotations

import re

from urllib.parse import quote, quote_plus

MASK = '********'

# Values that must never be shown even when we were not told about them: SAS signatures in URLs
# and the secret parts of storage connection strings.
_PATTERNS = (
    (re.compile(r'([?&;]sig=)[^&\s\'"]+', re.I), r'\1' + MASK),
    (re.compile(r'((?:AccountKey|SharedAccessSignature|SharedAccessKey)=)[^;\s\'"]+', re.I), r'\1' + MASK),
    (re.compile(r'((?:client_secret|client_assertion)=)[^&\s\'"]+', re.I), r'\1' + MASK),
    (re.compile(r'(Bearer\s+)[A-Za-z0-9._~+/=-]+'), r'\1' + MASK),
)
_DETAIL = re.compile(r'<AuthenticationErrorDetail>(.*?)</AuthenticationErrorDetail>', re.S)
_URL = re.compile(r'https?://[^\s\'"<>]+')

AUTH_HINT = ('check client_id, secret and tenant (or AZURE_CLIENT_ID, AZURE_SECRET and AZURE_TENANT), '
             'authority_host and cloud_environment; with auth_source=cli run "az login" first')

CONNECT_HINT = ('check that authority_host / cloud_environment point at a reachable Entra ID endpoint and that its '
                'TLS certificate is trusted (REQUESTS_CA_BUNDLE for a private CA)')
_CONNECT = re.compile(r'SSL|certificate|Failed to establish|Connection (?:refused|reset|aborted)|Max retries|'
                      r'Name or service not known|timed out', re.I)


def scrub(text, secrets=()):
    """Return ``text`` with every secret (and its URL-encoded forms) and every SAS signature masked."""
    text = '' if text is None else str(text)
    for secret in sorted((str(s) for s in secrets if s), key=len, reverse=True):
        for form in (secret, quote(secret), quote(secret, safe=''), quote_plus(secret, safe='')):
            text = text.replace(form, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _strip_query(url):
    return url.split('?', 1)[0]


def _request_url(exc):
    """The URL of the failed request, when the exception (or the one it wraps) knows it."""
    for candidate in (exc, getattr(exc, 'inner_exception', None), getattr(exc, '__cause__', None)):
        request = getattr(candidate, 'request', None)
        url = getattr(request, 'url', None)
        if url:
            return _strip_query(str(url))
    match = _URL.search(str(exc))
    return _strip_query(match.group(0)) if match else None


def _first_line(text):
    for line in str(text or '').splitlines():
        if line.strip():
            return line.strip()
    return ''


def _http_detail(exc):
    """(status, code, message) from an ARM (OData JSON) or storage (x-ms-error-code) error."""
    status = getattr(exc, 'status_code', None)
    error = getattr(exc, 'error', None)
    code = getattr(error, 'code', None) or getattr(exc, 'error_code', None)
    code = getattr(code, 'value', code)  # storage uses an enum
    full = str(getattr(exc, 'message', None) or exc)
    message = getattr(error, 'message', None) or _first_line(full)
    detail = _DETAIL.search(full)  # storage explains 403s in the XML body
    if detail and detail.group(1) not in message:
        message = '%s (%s)' % (message.rstrip('.'), detail.group(1).strip())
    return status, code, message


def _class_names(exc):
    return {cls.__name__ for cls in type(exc).__mro__}


def describe_error(exc, secrets=()):
    """One line (or a few) saying what went wrong and, when we know, what to do about it."""
    names = _class_names(exc)
    if 'OperationFailed' in names:  # _azure.lro: a long-running operation that failed
        text = '%s: %s' % (exc.operation, describe_error(exc.error))
    elif names & {'OperationTimeout', 'AuthConfigError', 'ComputeError'}:  # our own, already clear
        text = str(exc)
    elif 'ClientAuthenticationError' in names:
        status, code, message = _http_detail(exc)
        detail = message if status else str(getattr(exc, 'message', None) or exc).strip()
        detail = re.sub(r'^Authentication failed:\s*', '', detail)
        prefix = 'Azure authentication failed'
        if status:
            prefix += ' (HTTP %s%s)' % (status, ' ' + code if code else '')
        hint = CONNECT_HINT if not status and _CONNECT.search(detail) else AUTH_HINT
        text = '%s: %s. To fix it, %s.' % (prefix, detail.rstrip('.'), hint)
    elif 'ResourceNotFoundError' in names:
        status, code, message = _http_detail(exc)
        text = 'Not found (HTTP %s%s): %s' % (status or 404, ' ' + code if code else '', message)
    elif 'HttpResponseError' in names:
        status, code, message = _http_detail(exc)
        text = 'Azure request failed (HTTP %s%s): %s' % (status, ' ' + code if code else '', message)
    elif 'ServiceRequestError' in names:
        url = _request_url(exc)
        reason = _URL.sub(lambda m: _strip_query(m.group(0)), _first_line(getattr(exc, 'message', None) or exc))
        text = 'Cannot connect to %s: %s. Check the endpoint URL, DNS, proxy and TLS settings.' % (
            url or 'the Azure endpoint', reason)
    else:
        text = '%s: %s' % (type(exc).__name__, exc) if isinstance(exc, BaseException) else str(exc)
    return scrub(text, secrets)
