# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # Authentication options shared by every module that talks to Azure.
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - Where the Microsoft Entra ID credential comes from.
      - V(auto) uses O(client_id), O(secret) and O(tenant) when all three are set, otherwise
        azure-identity's C(DefaultAzureCredential) chain (environment, workload identity, managed identity,
        Azure CLI, ...).
      - V(credentials) uses a service principal client secret and requires O(client_id), O(secret) and O(tenant).
      - V(env) lets azure-identity's C(EnvironmentCredential) read C(AZURE_CLIENT_ID), C(AZURE_TENANT_ID) and
        C(AZURE_CLIENT_SECRET) or C(AZURE_CLIENT_CERTIFICATE_PATH).
      - V(msi) uses the managed identity of the machine running the module (user-assigned when O(client_id) is set).
      - V(cli) uses the account of C(az login) on the machine running the module.
      - V(workload_identity) exchanges a federated token (for example a Kubernetes service account token) and
        requires O(client_id), O(tenant) and O(federated_token_file).
      - Falls back to the E(ANSIBLE_AZURE_AUTH_SOURCE) environment variable.
    type: str
    default: auto
    choices: [auto, cli, env, msi, credentials, workload_identity]
  client_id:
    description:
      - Application (client) ID of the service principal, or of the user-assigned managed identity.
      - Falls back to the E(AZURE_CLIENT_ID) environment variable.
    type: str
  secret:
    description:
      - Client secret of the service principal.
      - Falls back to the E(AZURE_SECRET) or E(AZURE_CLIENT_SECRET) environment variable.
      - Never logged nor returned.
    type: str
  tenant:
    description:
      - Microsoft Entra tenant (directory) ID.
      - Falls back to the E(AZURE_TENANT) or E(AZURE_TENANT_ID) environment variable.
    type: str
  subscription_id:
    description:
      - Azure subscription ID, needed by modules that call Azure Resource Manager.
      - Falls back to the E(AZURE_SUBSCRIPTION_ID) environment variable.
    type: str
  cloud_environment:
    description:
      - Azure cloud whose Entra ID authority host, Resource Manager endpoint and storage suffix are used.
      - Falls back to the E(AZURE_CLOUD_ENVIRONMENT) environment variable.
    type: str
    default: AzureCloud
    choices: [AzureChinaCloud, AzureCloud, AzureUSGovernment]
  authority_host:
    description:
      - Entra ID authority host URL (C(https://...)) overriding the one of O(cloud_environment), for sovereign
        or private clouds.
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
      - File holding the federated token for O(auth_source=workload_identity).
      - Falls back to the E(AZURE_FEDERATED_TOKEN_FILE) environment variable.
    type: path
  disable_instance_discovery:
    description:
      - Skip Entra ID instance discovery (the check that O(authority_host) is a known Microsoft host).
      - Needed for private or disconnected clouds whose authority host is not known to Microsoft.
      - Falls back to the E(AZURE_DISABLE_INSTANCE_DISCOVERY) environment variable.
    type: bool
    default: false
requirements:
  - azure-identity >= 1.15.0
notes:
  - Authentication runs on the host executing the module, with the Python libraries installed there
    (see the collection's C(requirements.txt)).
  - The token is requested with TLS; set E(REQUESTS_CA_BUNDLE) to trust a private certificate authority.
  - Do not pass O(secret) through the task C(environment) keyword, which C(ansible-playbook -vvv) prints;
    use the option (it is C(no_log)), or export the variable before running Ansible.
"""
