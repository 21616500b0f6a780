"""Every rule of the pack, one module each (guardrails/rules/), in the order the pack serves them.

Counts, names and levels anywhere else (tests, docs, the gate) are read from here.
"""

from __future__ import annotations

from guardrails.rule import Rule
from guardrails.rules import (
    cloud_run_images_pinned,
    cloud_run_private_redis_path,
    cloud_run_redis_clients_not_public,
    connector_depends_on_subnet,
    connector_in_service_region,
    connector_on_redis_network,
    connector_range_size,
    direct_egress_flow_logs,
    direct_egress_flow_logs_unverified,
    direct_vpc_egress_subnet_capacity,
    direct_vpc_egress_subnet_headroom,
    env_secrets_from_secret_manager,
    environment_derived_names,
    environment_name_prefix,
    firewall_logging_all_metadata,
    network_protected,
    network_ranges_disjoint,
    no_hardcoded_network_references,
    no_hardcoded_psc_references,
    psc_egress_firewall_rule,
    psc_egress_logged,
    psc_service_connection_policy,
    redis_auth_enabled,
    redis_cluster_production_baseline,
    redis_deletion_protection,
    redis_egress_firewall_rule,
    redis_egress_not_to_internet,
    redis_ingress_rule_ineffective,
    redis_port_open_to_internet,
    redis_protected,
    redis_rdb_persistence,
    redis_standard_ha,
    redis_tls_enabled,
    secret_access_granted,
    secret_versions_pinned,
    service_depends_on_redis_egress_rule,
    service_depends_on_secret_grant,
    service_depends_on_vpc_egress,
    valkey_production_baseline,
)

MODULES = (
    # references and names
    no_hardcoded_network_references,
    no_hardcoded_psc_references,
    environment_derived_names,
    environment_name_prefix,
    # firewall
    redis_egress_firewall_rule,
    redis_ingress_rule_ineffective,
    redis_port_open_to_internet,
    redis_egress_not_to_internet,
    firewall_logging_all_metadata,
    direct_egress_flow_logs,
    direct_egress_flow_logs_unverified,
    # the Private Service Connect path (Memorystore for Valkey, Redis Cluster)
    psc_service_connection_policy,
    psc_egress_firewall_rule,
    psc_egress_logged,
    # connector and addressing
    connector_range_size,
    network_ranges_disjoint,
    connector_in_service_region,
    connector_on_redis_network,
    direct_vpc_egress_subnet_capacity,
    direct_vpc_egress_subnet_headroom,
    # the Cloud Run side of the path
    cloud_run_private_redis_path,
    # explicit dependencies and access
    connector_depends_on_subnet,
    service_depends_on_vpc_egress,
    service_depends_on_redis_egress_rule,
    secret_access_granted,
    service_depends_on_secret_grant,
    # Redis and secrets baseline
    redis_auth_enabled,
    redis_tls_enabled,
    env_secrets_from_secret_manager,
    secret_versions_pinned,
    # what Cloud Run runs
    cloud_run_images_pinned,
    cloud_run_redis_clients_not_public,
    # production only
    redis_standard_ha,
    redis_rdb_persistence,
    redis_deletion_protection,
    redis_protected,
    network_protected,
    valkey_production_baseline,
    redis_cluster_production_baseline,
)

RULES: dict[str, Rule] = {m.RULE.name: m.RULE for m in MODULES}
