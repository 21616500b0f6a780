"""What the config models cannot say about each stack key: its cross-field rule and what a change
to it does to a deployed stack. `infra/docgen.py` joins this with the models (type, default,
allowed values) into the key reference in docs/config.md; a key of the models with no entry here,
or an entry for a key the models do not have, is an error there and in tests/test_docgen.py.

Keys are as in a stack file, without the `redis-vpc:` namespace (`services.<name>.image`);
`gcp:` keys are written in full. Each entry: (default shown when the model's default is resolved
from another value, or None; the rule; a change to it). What replaces what comes from the
provider's replace-on-change fields: docs/provider-facts.md.
"""

from __future__ import annotations

KEYS: dict[str, tuple[str | None, str, str]] = {
    "gcp:project": (
        None,
        "",
        "replaces everything (`project` is replace-on-change on every resource type)",
    ),
    "gcp:region": (
        None,
        "a known region (table in `infra/limits.py`, 2026-11-22) that has every product the "
        "stack uses there (`redis.product`, Cloud Run, and Serverless VPC Access with "
        "`vpcEgress: connector`; locations tables in the same file, 2026-12-03); a newer one "
        "needs `redis-vpc:unlistedRegion`",
        "replaces every regional resource: the subnets (`region`), the connector (`region`), "
        "**Redis** (`region`: sessions lost), the services and the job (`location`); the firewall "
        "rule's connector tag and the Connectivity Test's source revision follow in place",
    ),
    "environment": (
        None,
        "every derived name must fit Google's limit: at most 14 characters with every hyphen "
        "counted twice (the connector: `<env>-connector`, or `<env>-conn` when the long form "
        "would pass 20), at most 18 (the probe's service account `<env>-redis-probe`). "
        "Independent of the stack's name (`Pulumi.acme-prod.yaml` may say `production`): the "
        "policy pack judges names against this value, which it learns from the `environment` "
        "label on Redis and the services and from this key, never from the stack's name",
        "renames, so **replaces everything** (every name is derived from it, and `name`, "
        "`account_id`, `secret_id` are replace-on-change): a new network, connector, empty Redis",
    ),
    "production": (
        None,
        "true: Redis STANDARD_HA, AUTH, TLS, persistence and deletion protection required; "
        "network, subnets and Redis `protect`ed; Cloud Run deletion protection",
        "in place (labels, protection); but through the tier default (below) it can replace Redis",
    ),
    "vpcEgress": (
        None,
        "`auto` is refused: it guessed from the environment's name",
        "creates one path and deletes the other (connector and its subnet, or the egress "
        "subnet); the firewall rule's target tag, the services and the job update in place "
        "(new revisions)",
    ),
    "unlistedRegion": (None, "must equal `gcp:region`", "nothing"),
    "network.connectorCidr": (
        None,
        "exactly a private /28 (connector only)",
        "**replaces the connector subnet** (`ip_cidr_range`: in place only when the new range "
        "contains the old one, which a /28 that must stay a /28 never does) and so the "
        "**connector** that uses it: the path is down until the new connector is READY",
    ),
    "network.directEgressCidr": (
        None,
        "private, /26 or larger (direct only), and big enough: 2 addresses an instance in "
        "blocks of 16 for two revisions of every service at `maxInstances` (a rollout runs "
        "both), plus 16 for the probe job, within its usable addresses (the range less the 4 "
        "every subnet reserves)",
        "a range that contains the old one (a widening): in place (`expandIpCidrRange`); "
        "anything else **replaces the egress subnet** the services send from",
    ),
    "network.flowLogs.aggregationInterval": (
        None,
        "the Direct VPC egress subnets' flow log interval (direct only; always with "
        "INCLUDE_ALL_METADATA)",
        "in place on every Direct VPC egress subnet (`logConfig` is not replace-on-change)",
    ),
    "network.flowLogs.flowSampling": (
        None,
        "above 0 and at most 1 (default 0.5); 0 would report no flows (direct only)",
        "in place on every Direct VPC egress subnet (`logConfig` is not replace-on-change)",
    ),
    "network.redisReservedRange": (
        None,
        "direct peering: a /29 (a /28 with read replicas); private services access: the "
        "allocated range, /29 (/28) or larger. No two ranges may overlap",
        "**never change it for a live instance.** Direct peering: the instance ignores it "
        '(`reservedIpRange` is ignored: runbook, "Importing"), but the firewall rule\'s '
        "destination (in place) moves to the new range and no longer covers Redis. Private "
        "services access: replaces the allocated range (`address`, `prefix_length`) under the "
        "live instance. Moving Redis to a new range is a new instance (a data migration)",
    ),
    "network.pscSubnetCidr": (
        None,
        "valkey / redis-cluster only (refused with memorystore-redis): a private /29 or larger "
        "(two endpoint addresses per instance, four reserved by every subnet), overlapping no "
        "other range of the stack",
        "a range that contains the old one (a widening): in place; anything else **replaces the "
        "PSC subnet** under the instance's endpoints",
    ),
    "connector.minInstances": (
        None,
        "less than `connector.maxInstances`",
        "raising: in place; **lowering replaces the connector** (`ForceNewIfChange`, new < old): "
        "path down until READY",
    ),
    "connector.maxInstances": (
        None,
        "",
        "raising: in place; **lowering replaces the connector** (same rule)",
    ),
    "connector.machineType": (
        None,
        "`e2-standard-4` is the production recommendation",
        "in place (`machineType` update)",
    ),
    "redis.product": (
        None,
        "each product refuses the keys of the others (naming the product); `gcp:region` must "
        "have the product (locations tables in `infra/limits.py`)",
        "**replaces the instance with another product's** (a new, empty store: sessions lost)",
    ),
    "redis.tier": (
        "STANDARD_HA in production, else BASIC",
        "production requires STANDARD_HA",
        "**replaces Redis** (`tier`): sessions lost",
    ),
    "redis.memorySizeGb": (None, "at least 5 with read replicas", "in place (resize)"),
    "redis.version": (
        None,
        "",
        "upgrade: in place (`:upgrade`); a downgrade between `REDIS_7_2` and `REDIS_7_0` "
        "**replaces Redis** (`ForceNewIfChange`); a move to `REDIS_6_X` is not seen as a "
        "downgrade by the provider (it parses only `REDIS_<n>_<n>`): it is sent as an upgrade, "
        "which Google refuses, so the update fails",
    ),
    "redis.authEnabled": (
        None,
        "production requires true",
        "in place on Redis; creates or deletes the AUTH secret, its version and the grants; "
        "services and job get a new revision (`REDIS_AUTH`)",
    ),
    "redis.transitEncryption": (
        None,
        "production requires true",
        "**replaces Redis** (`transit_encryption_mode`): sessions lost; the port changes with "
        "it, so the firewall rule (in place) and every service (new revision) follow",
    ),
    "redis.connectMode": (
        None,
        "`PRIVATE_SERVICE_ACCESS` creates the allocated range and the peering (on the network)",
        "**replaces Redis** (`connect_mode`): sessions lost; private services access also "
        "creates the allocated range and the peering. The ignored `reservedIpRange` keeps its "
        'old value in the new instance: drop the ignore for that deploy (runbook, "Importing")',
    ),
    "redis.readReplicas": (
        None,
        "needs STANDARD_HA, at least 5 GB and a /28",
        "in place (`replica_count`, `read_replicas_mode` are not replace-on-change; Google "
        "decides whether the change is allowed on a live instance)",
    ),
    "redis.persistence": (
        "24h in production, else off",
        "production requires RDB",
        "in place",
    ),
    "redis.maintenanceWindow.day": (None, "", "in place"),
    "redis.maintenanceWindow.hour": (None, "UTC", "in place"),
    "redis.deletionProtection": (
        None,
        "production requires true; set explicitly (the provider leaves it off when unset)",
        "in place (provider-side only: nothing is sent to Google)",
    ),
    "redis.clusterMode": (
        "true",
        "valkey only (redis-cluster is always in cluster mode); off needs `redis.shards` 1",
        "**replaces the instance** (`mode`): sessions lost",
    ),
    "redis.shards": (
        "1",
        "valkey / redis-cluster; 1 when cluster mode is off; shards × (1 + replicas) at most 250 "
        "usage units per instance",
        "in place (`shard_count`: Google reshards the live instance)",
    ),
    "redis.replicas": (
        "1 in production, else 0",
        "0–5 per shard (both products); production requires at least 1",
        "in place (`replica_count`)",
    ),
    "redis.nodeType": (
        "the standard-small type in production, else the shared-core nano type",
        "the product's own spelling (valkey: `SHARED_CORE_NANO`..., redis-cluster: "
        "`REDIS_SHARED_CORE_NANO`...); production refuses the nano type (no SLA)",
        "in place (`node_type`: Google scales the live instance)",
    ),
    "redis.engineVersion": (
        "VALKEY_8_0",
        "valkey only; `VALKEY_9_0` is refused (preview)",
        "in place (`engine_version`)",
    ),
    "redis.auth": (
        "iam",
        "valkey / redis-cluster (`redis.authEnabled` is memorystore-redis'); production "
        "requires iam",
        "**replaces the instance** (`authorization_mode`): sessions lost",
    ),
    "firewall.priority": (
        None,
        "decides only among the VPC firewall rules: it wins over a VPC egress deny with a "
        "higher number, never over an organization or folder (hierarchical) policy, which "
        "Google evaluates first, nor over a network firewall policy evaluated before VPC rules "
        "(`BEFORE_CLASSIC_FIREWALL`): [firewall.md](firewall.md)",
        "in place",
    ),
    "probe.enabled": (
        "on when `probe.image` is set",
        "the Redis probe as a Cloud Run job",
        "creates or deletes the job, its account and its secret grant (and the Connectivity Test)",
    ),
    "probe.image": (
        None,
        "required when enabled; an image reference, in production pinned (as "
        "`services.<name>.image`)",
        "in place (new job template)",
    ),
    "probe.rounds": (None, "", "in place"),
    "probe.deadlineSeconds": (None, "", "in place"),
    "probe.connectivityTest": (
        None,
        "also a Connectivity Test (needs the probe on)",
        "creates or deletes the test",
    ),
    "probe.connectivityTestService": (
        "the first service",
        "whose revision is the test's source; a configured service",
        "in place (a new source revision is an update; only adding or removing the source "
        "block replaces the test)",
    ),
    "services.<name>": (
        None,
        "at least one. The name: the Cloud Run name `<env>-<name>` (at most 49) and the "
        "account `<env>-<name>-run` (6–30) must fit; the error says the maximum for the "
        "environment",
        "adding creates the service, its account and its secret grant; removing deletes them "
        "(in production Cloud Run `deletion_protection` makes that fail until it is off)",
    ),
    "services.<name>.image": (
        None,
        "`[registry/]path[:tag][@sha256:<64 hex>]`, lowercase path (the OCI reference grammar); "
        "production: a digest or a release tag, never `latest`, no tag, or a moving tag "
        "(`stable`, `main`, …: `MOVING_TAGS` in `infra/facts.py`); advice elsewhere",
        "in place (new revision)",
    ),
    "services.<name>.port": (None, "", "in place (new revision)"),
    "services.<name>.minInstances": (
        None,
        "at most `maxInstances`",
        "in place (new revision)",
    ),
    "services.<name>.maxInstances": (
        None,
        "Direct VPC egress: the egress subnet of each region must hold 2 addresses an instance, "
        "in blocks of 16, for two revisions of every service",
        "in place (new revision)",
    ),
    "services.<name>.cpu": (
        None,
        "memory per CPU as Cloud Run allows it (see `memory`)",
        "in place (new revision)",
    ),
    "services.<name>.memory": (
        None,
        "1 CPU up to 4Gi, 2 up to 8Gi, 4 CPU 2–16Gi, 6 CPU 4–24Gi, 8 CPU 4–32Gi",
        "in place (new revision)",
    ),
    "services.<name>.ingress": (None, "", "in place"),
    "services.<name>.timeoutSeconds": (
        "unset (Cloud Run's 300)",
        'at most 3600 (Cloud Run, "Configure request timeout")',
        "in place (new revision)",
    ),
    "services.<name>.public": (
        None,
        "true: roles/run.invoker for allUsers and the label `public=true` (the pack's "
        "cloud-run-redis-clients-not-public takes the service as public on purpose)",
        "creates or deletes the invoker grant; the label changes in place",
    ),
    "services.<name>.env": (
        None,
        "plain variables only: names with the word PASSWORD, SECRET, TOKEN, API_KEY, "
        "CREDENTIALS (…) are refused (use `secrets`); `REDIS_*`, `PORT`, `K_*` are set by the "
        "stack or Cloud Run",
        "in place (new revision)",
    ),
    "services.<name>.secrets": (
        None,
        "env var → an existing Secret Manager secret of the project: `secret-id` (reads "
        "`latest`) or `secret-id:N`; production must pin `:N`; a name may not also be in `env` "
        "nor be a `REDIS_*` variable. The service reads it through `secretKeyRef`, and its own "
        "account gets `roles/secretmanager.secretAccessor` on that secret only (one "
        "SecretIamMember per secret)",
        "in place (new revision); adding a secret adds its grant, which the service waits for",
    ),
    "sharedVpc.hostProject": (
        None,
        "with `network`, `subnets` and `redisRange` (explicit ids), or none of them and "
        "`stackReference`; not `gcp:project`. Unset `sharedVpc`: the stack's own VPC",
        "moves everything network-side to another host. **Replaces** Redis "
        "(`authorized_network`: a new, empty instance, sessions lost) and its AUTH secret "
        "version (a new AUTH string), the Redis egress firewall rule (`project`), and what "
        "this stack made in the host (`project`, `role`, `member` are replace-on-change): "
        "connector in the service project: the connector (`subnet.project_id`), the host "
        "firewall rules for it and the two Compute Network User grants on the host project; "
        "connector in the host project: the connector (`project`) and the Serverless VPC "
        "Access User grant; Direct VPC egress: the Compute Network User grant on each subnet and "
        "the Compute Network Viewer grant on the host project (the service agents' identities, "
        "in the service project, stay). "
        "The services and the probe job get a new revision (new host, port, CA, AUTH version)",
    ),
    "sharedVpc.network": (
        None,
        "the host's network name",
        "**replaces Redis** (`authorized_network`: a new, empty instance) and its AUTH secret "
        "version; the firewall rules move to the new network in place (`network` is not "
        "replace-on-change); the connector follows `subnets`",
    ),
    "sharedVpc.stackReference": (
        None,
        "a platform stack `org/project/stack` exporting `host_project`, `network_name`, "
        "`subnets` (region → subnet name) and `redis_range` (docs/shared-vpc.md)",
        "the same ids from another source: nothing, if the outputs name the same network",
    ),
    "sharedVpc.connectorProject": (
        None,
        "`host`: the connector is created in the host project; connector egress only",
        "**replaces each connector** (`project`): the path is down until the new one is READY",
    ),
    "sharedVpc.subnets": (
        None,
        "every region of the stack (gcp:region and `regions`): a /28 shared for the connector, "
        "or the Direct VPC egress subnet; no other region",
        "connector: **replaces it** (`subnet.name` is replace-on-change); Direct VPC egress: "
        "a new revision on the new subnet",
    ),
    "sharedVpc.redisRange": (
        None,
        "the host's private services access allocated range; `redis.connectMode` must be "
        "`PRIVATE_SERVICE_ACCESS` (Memorystore reaches a host network from a service project "
        "only that way)",
        "**never change it for a live instance.** The instance ignores it (`reservedIpRange` "
        'is ignored: runbook, "Importing"), but the Redis egress firewall rule\'s destination '
        "(in place) moves to the new range's CIDR and no longer covers Redis: the path breaks "
        "(`python -m preflight --state` fails it). Moving Redis to another range is a new "
        "instance (a data migration)",
    ),
    "regions.<name>": (
        None,
        "a known region other than `gcp:region` that has Cloud Run (and Serverless VPC Access "
        "with `vpcEgress: connector`; tables in `infra/limits.py`, no `unlistedRegion` escape); "
        "its services reach Redis (in `gcp:region`) through their own connector or egress "
        "subnet, which Google does not document for Memorystore for Redis: prove it with the "
        "probe (docs/multi-region.md); names carry the region's short code "
        "where Google requires unique names (subnets) and in logical names",
        "adding creates the region's subnet, connector and services (the services' accounts "
        "and grants are shared); removing deletes them",
    ),
    "regions.<name>.connectorCidr": (
        None,
        "own network, connector egress: exactly a private /28, disjoint from every other range",
        "**replaces that region's subnet and connector**",
    ),
    "regions.<name>.directEgressCidr": (
        None,
        "own network, Direct VPC egress: /26 or larger, disjoint from every other range, and "
        "big enough for two revisions of every service (as `network.directEgressCidr`)",
        "a widening: in place; anything else **replaces that region's egress subnet**",
    ),
}
