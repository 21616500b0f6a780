"""Where an IAM access token comes from, when the instance authenticates with IAM.

Memorystore for Valkey and Memorystore for Redis Cluster with IAM authentication take an OAuth
access token of a principal that holds the connect permission as the AUTH password:
- Valkey: "IAM based authentication integrates with Valkey AUTH, letting you seamlessly rotate
  credentials (IAM tokens)"; the principal needs `memorystore.instances.connect`
  (`roles/memorystore.dbConnectionUser`):
  https://cloud.google.com/memorystore/docs/valkey/about-iam-auth
- Redis Cluster: "Memorystore does the verification using the Redis AUTH command and IAM access
  tokens"; the principal needs `redis.clusters.connect` (`roles/redis.dbConnectionUser`):
  https://cloud.google.com/memorystore/docs/cluster/about-iam-auth

On Cloud Run the token is the runtime service account's, from the metadata server ("a Cloud Run
revision uses a service account as its identity ... automatically obtains and uses credentials
from the runtime service account", https://cloud.google.com/run/docs/securing/service-identity):
`GET http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token`
with the header `Metadata-Flavor: Google`, answered with JSON `{"access_token", "expires_in",
"token_type"}` (https://cloud.google.com/kuberun/docs/securing/service-identity, "Fetching access
tokens"; the endpoint list: https://cloud.google.com/appengine/docs/standard/java/accessing-instance-metadata).
`GCE_METADATA_HOST` (host[:port]) overrides the host, as Google's client libraries honour it: the
tests point it at a loopback server, so no test traffic leaves 127.0.0.1.

A token is short-lived: a source is asked once per probe run, never cached across runs.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

METADATA_HOST = "metadata.google.internal"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


class TokenError(Exception):
    """The token source could not give a token (the message says which source and why)."""


class TokenSource(Protocol):
    def token(self, timeout: float) -> str: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class MetadataServerTokenSource:
    """Production: the service account's access token from the metadata server (Cloud Run)."""

    host: str | None = None

    def _host(self) -> str:
        return self.host or os.environ.get("GCE_METADATA_HOST") or METADATA_HOST

    def describe(self) -> str:
        return f"metadata server {self._host()}"

    def token(self, timeout: float) -> str:
        request = urllib.request.Request(
            f"http://{self._host()}{TOKEN_PATH}", headers={"Metadata-Flavor": "Google"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                body = answer.read()
        except urllib.error.HTTPError as exc:
            raise TokenError(f"{self.describe()} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TokenError(f"{self.describe()} did not answer: {reason}") from None
        try:
            value = json.loads(body)["access_token"]
        except (ValueError, KeyError, TypeError):
            raise TokenError(f"{self.describe()} answered without an access_token") from None
        if not isinstance(value, str) or not value:
            raise TokenError(f"{self.describe()} answered an empty access_token")
        return value


@dataclass(frozen=True)
class FileTokenSource:
    """A token in a file (tests; a token minted elsewhere, e.g. `gcloud auth print-access-token`)."""

    path: str

    def describe(self) -> str:
        return f"token file {self.path}"

    def token(self, timeout: float) -> str:
        try:
            with open(self.path, encoding="utf-8") as f:
                value = f.read().strip()
        except OSError as exc:
            raise TokenError(f"{self.describe()}: {exc.strerror or exc}") from None
        if not value:
            raise TokenError(f"{self.describe()} is empty")
        return value


@dataclass(frozen=True)
class EnvTokenSource:
    """A token in an environment variable (tests)."""

    var: str

    def describe(self) -> str:
        return f"env var {self.var}"

    def token(self, timeout: float) -> str:
        value = os.environ.get(self.var, "").strip()
        if not value:
            raise TokenError(f"{self.describe()} is not set or empty")
        return value
