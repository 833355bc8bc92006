# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # Authentication options shared by every module that talks to Azure: azure.azcollection's options,
    # environment variables and ~/.azure/credentials profiles, plus workload identity.
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - Where the Microsoft Entra ID credential comes from. The same choices and order as azure.azcollection's
        modules, so that a task, a C(module_defaults) block or an AWX job template written for them works unchanged.
      - V(auto) takes the first of these that applies
        (1) the O(profile) option, that profile of C(~/.azure/credentials);
        (2) a credential in the options, O(client_id) or O(ad_user) (or a lone O(secret), O(password) or
        O(x509_certificate_path), which is then reported as incomplete);
        (3) the environment, E(AZURE_PROFILE) (that profile of C(~/.azure/credentials)), or a credential in the
        C(AZURE_*) variables (E(AZURE_SECRET), E(AZURE_AD_USER), E(AZURE_PASSWORD), E(AZURE_X509_CERTIFICATE_PATH),
        or E(AZURE_CLIENT_ID) with E(AZURE_TENANT); with E(AZURE_FEDERATED_TOKEN_FILE) and no secret this is workload
        identity, as set up by AKS);
        (4) the C([default]) profile of C(~/.azure/credentials), when it has a C(subscription_id);
        (5) the Azure CLI's login (C(az login), found in C(~/.azure/azureProfile.json) or E(AZURE_CONFIG_DIR));
        (6) the managed identity of the machine running the module. azure.azcollection stops after (5); a failure
        of (6) says what was tried. Unlike azure.azcollection, E(AZURE_SUBSCRIPTION_ID) alone does not select (3),
        it only gives the subscription to whichever source is used.
      - V(credential_file) reads the O(profile) (or E(AZURE_PROFILE), else C(default)) profile of
        C(~/.azure/credentials); when that file or profile does not exist, a credential given in the options
        (O(client_id), O(secret), O(tenant), ...) is used instead.
      - V(env) reads the credential from the environment variables named for each option below (or the profile
        named by E(AZURE_PROFILE)).
      - V(cli) uses the Azure CLI's login on the machine running the module; the subscription is O(subscription_id),
        else E(AZURE_SUBSCRIPTION_ID), else the CLI's default subscription, and the cloud the CLI's active cloud
        unless O(cloud_environment) or E(AZURE_CLOUD_ENVIRONMENT) is set.
      - V(msi) uses the managed identity of the machine running the module (user-assigned when O(client_id) or
        E(AZURE_CLIENT_ID) is set); the subscription is O(subscription_id) or E(AZURE_SUBSCRIPTION_ID).
      - V(workload_identity) exchanges a federated token (for example a Kubernetes service account token); it needs
        O(client_id), O(tenant) and O(federated_token_file), each also read from its environment variable.
      - V(credentials) is the deprecated spelling of V(credential_file) (a service principal given as options keeps
        working); it will be removed in vmimage.azure 0.3.0.
      - Whatever the source, an option set in the task wins over the same setting of the profile or the
        environment. The module result says in C(auth_source) which source was used (V(parameters), V(env),
        V(credential_file), V(cli), V(msi) or V(workload_identity)).
      - Falls back to the E(ANSIBLE_AZURE_AUTH_SOURCE) environment variable.
    type: str
    default: auto
    choices: [auto, cli, credential_file, env, msi, workload_identity, credentials]
  profile:
    description:
      - Name of a profile (an INI section) of C(~/.azure/credentials), read as azure.azcollection reads it. Its keys
        are the option names C(subscription_id), C(client_id), C(secret), C(tenant), C(ad_user), C(password),
        C(cloud_environment), C(cert_validation_mode), C(adfs_authority_url), C(x509_certificate_path),
        C(thumbprint) and C(disable_instance_discovery).
      - Setting it selects that profile whatever O(auth_source=auto) would otherwise find.
      - With O(auth_source=credential_file) or O(auth_source=env), falls back to the E(AZURE_PROFILE) environment
        variable (with O(auth_source=auto), E(AZURE_PROFILE) comes in the order described there).
    type: str
  subscription_id:
    description:
      - Azure subscription ID, needed by modules that call Azure Resource Manager.
      - When not set, taken from the profile (credential file), else the E(AZURE_SUBSCRIPTION_ID) environment
        variable, else (O(auth_source=cli)) the Azure CLI's default subscription.
    type: str
  client_id:
    description:
      - Application (client) ID of the service principal, of the user-assigned managed identity, or of the
        application used for O(ad_user) (default the Azure CLI's, C(04b07795-8ddb-461a-bbee-02f9e1bf7b46), as
        azure.azcollection does).
      - Read from the E(AZURE_CLIENT_ID) environment variable when the credential comes from the environment, and
        for O(auth_source=msi) and O(auth_source=workload_identity).
    type: str
  secret:
    description:
      - Client secret of the service principal; needs O(client_id) and O(tenant).
      - Read from the E(AZURE_SECRET) (or E(AZURE_CLIENT_SECRET)) environment variable when the credential comes
        from the environment.
      - Never logged nor returned.
    type: str
  tenant:
    description:
      - Microsoft Entra tenant (directory) ID; required for a service principal. With ADFS it is always C(adfs).
      - Read from the E(AZURE_TENANT) (or E(AZURE_TENANT_ID)) environment variable when the credential comes from
        the environment, and for O(auth_source=workload_identity).
      - With O(auth_source=cli), the tenant to request the token from (default that of the subscription used).
    type: str
  ad_user:
    description:
      - User name, to authenticate as a Microsoft Entra ID user with O(password) (no multi-factor authentication).
        O(tenant) defaults to C(organizations).
      - Read from the E(AZURE_AD_USER) environment variable when the credential comes from the environment (AWX's
        credential injects it with a user name).
    type: str
  password:
    description:
      - Password of O(ad_user).
      - Read from the E(AZURE_PASSWORD) environment variable when the credential comes from the environment.
      - Never logged nor returned.
    type: str
  cloud_environment:
    description:
      - The Azure cloud, by name (case-insensitive) V(AzureCloud), V(AzureChinaCloud) or V(AzureUSGovernment), or
        the C(https://) URL of the Resource Manager of another cloud (Azure Stack Hub, a private cloud). For a URL
        the module reads C(<url>/metadata/endpoints?api-version=2015-01-01) (within 10 seconds) and takes the
        Entra ID or ADFS authority from C(authentication.loginEndpoint), the token audience from the first of
        C(authentication.audiences), and the storage suffix from C(suffixes.storage) when given.
      - Without a value, the profile's (credential file), else the E(AZURE_CLOUD_ENVIRONMENT) environment variable,
        else (O(auth_source=cli)) the Azure CLI's active cloud, else V(AzureCloud).
    type: str
  cert_validation_mode:
    description:
      - V(ignore) turns off TLS certificate verification for the cloud's metadata, Entra ID and Resource Manager
        requests (a warning says so); for test clouds only. Trusting the cloud's certificate authority with
        E(REQUESTS_CA_BUNDLE) is the better fix.
      - Without a value, the profile's, else the E(AZURE_CERT_VALIDATION_MODE) environment variable, else
        V(validate).
    type: str
    choices: [validate, ignore]
  adfs_authority_url:
    description:
      - ADFS authority URL (for example C(https://adfs.contoso.com/adfs)) for O(ad_user) or service principal
        authentication against your own ADFS; the tenant is then C(adfs).
      - Without a value, the profile's, else the E(AZURE_ADFS_AUTHORITY_URL) environment variable. A cloud whose
        metadata login endpoint ends in C(/adfs) uses ADFS by itself.
    type: str
  x509_certificate_path:
    description:
      - PEM file holding the private key and the certificate of the service principal (certificate instead of
        O(secret)); needs O(client_id) and O(tenant).
      - Read from the E(AZURE_X509_CERTIFICATE_PATH) environment variable when the credential comes from the
        environment.
    type: path
  thumbprint:
    description:
      - Thumbprint of the certificate in O(x509_certificate_path). Accepted for azure.azcollection compatibility;
        azure-identity computes it from the certificate, so it is not needed.
      - Read from the E(AZURE_THUMBPRINT) environment variable when the credential comes from the environment.
    type: str
  disable_instance_discovery:
    description:
      - Skip Entra ID instance discovery (the check, at C(login.microsoftonline.com), that the authority host is
        known to Microsoft).
      - It is skipped by itself when the authority host is not a public Microsoft one (a custom O(cloud_environment),
        O(authority_host) or ADFS); set it for other private or disconnected setups.
      - Also true when the profile or the E(AZURE_DISABLE_INSTANCE_DISCOVERY) environment variable says so.
    type: bool
    default: false
  authority_host:
    description:
      - Entra ID authority host URL (C(https://...)) overriding the one of O(cloud_environment), for test or
        private clouds.
      - Falls back to the E(AZURE_AUTHORITY_HOST) environment variable.
    type: str
  resource_manager_endpoint:
    description:
      - Azure Resource Manager endpoint URL (C(https://...)) overriding the one of O(cloud_environment).
        Tokens are still requested for the audience of O(cloud_environment).
      - Falls back to the E(AZURE_RESOURCE_MANAGER_ENDPOINT) environment variable.
    type: str
  federated_token_file:
    description:
      - File holding the federated token for workload identity (O(auth_source=workload_identity), or
        O(auth_source=auto) with O(client_id) and O(tenant) and no secret).
      - Falls back to the E(AZURE_FEDERATED_TOKEN_FILE) environment variable.
    type: path
requirements:
  - azure-identity >= 1.15.0, for Microsoft Entra ID authentication (imported only when a token is needed)
notes:
  - Authentication runs on the host executing the module, with the Python libraries installed there
    (see the collection's C(requirements.txt)).
  - AWX and Ansible Automation Platform's C(Microsoft Azure Resource Manager) credential injects
    E(AZURE_SUBSCRIPTION_ID) with E(AZURE_CLIENT_ID), E(AZURE_SECRET) and E(AZURE_TENANT), or with E(AZURE_AD_USER) and
    E(AZURE_PASSWORD), and E(AZURE_CLOUD_ENVIRONMENT) when set; O(auth_source=auto) picks them up.
  - "C(~/.azure/credentials) is an INI file, for example C([default]) then C(subscription_id=...), C(client_id=...),
    C(secret=...) and C(tenant=...) lines. Values are read as written (no C(%) interpolation). Keep it C(chmod 600):
    a warning says when other users can read it."
  - Metadata, token and Resource Manager requests use TLS; set E(REQUESTS_CA_BUNDLE) to trust a private certificate
    authority (E(SSL_CERT_FILE) is not read by the Python C(requests) library), and E(HTTPS_PROXY) / E(NO_PROXY)
    for a proxy.
  - Do not pass O(secret) or O(password) through the task C(environment) keyword, which C(ansible-playbook -vvv)
    prints; use the option (it is C(no_log)), or export the variable before running Ansible.
"""
