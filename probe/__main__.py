"""`python -m probe --host H --port P [--tls] [--ca-file F] [--password-env VAR]
[--cluster] [--iam | --token-file F | --token-env VAR] [--deadline SECONDS] [--rounds N]`

Without --host, settings come from the services' env vars (REDIS_HOST, REDIS_PORT, REDIS_TLS,
REDIS_AUTH, REDIS_CA_CERT, REDIS_CLUSTER_MODE, REDIS_IAM_AUTH), as inside the Cloud Run probe
job. With --host, REDIS_AUTH and REDIS_IAM_AUTH are not read: a password is sent only with
--password-env VAR, a token only with --iam (the metadata server's access token for the service
account, as on Cloud Run), --token-file F or --token-env VAR. --cluster (REDIS_CLUSTER_MODE=true):
the host and port are a cluster's discovery endpoint; every node of its topology is checked and
reported under `nodes`. Progress goes to stderr; the last
line of stdout is exactly one JSON object (`ok`, `classification`, `hint`, `steps`,
`latency_ms`, ...). Exit status 0 only when every step passed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from probe.core import HINTS, Prober, ProbeSettings, settings_from_env
from probe.tokens import EnvTokenSource, FileTokenSource, MetadataServerTokenSource, TokenSource


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m probe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--tls", action="store_true", default=None)
    p.add_argument("--ca-file")
    p.add_argument("--password-env", metavar="VAR", help="read the AUTH password from this env var")
    p.add_argument(
        "--username-env", metavar="VAR", help="ACL user name from this env var (Redis 6+)"
    )
    p.add_argument(
        "--cluster",
        action="store_true",
        default=None,
        help="the host is a cluster's discovery endpoint (REDIS_CLUSTER_MODE)",
    )
    iam = p.add_mutually_exclusive_group()
    iam.add_argument(
        "--iam", action="store_true", help="AUTH with the metadata server's access token"
    )
    iam.add_argument("--token-file", metavar="F", help="AUTH with the access token in this file")
    iam.add_argument("--token-env", metavar="VAR", help="AUTH with the access token in this var")
    p.add_argument("--deadline", type=float, default=10.0, help="overall deadline in seconds")
    p.add_argument("--rounds", type=int, default=10, help="PING round trips for latency")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    if args.deadline <= 0 or args.rounds < 1:
        print("error: --deadline must be > 0 and --rounds >= 1", file=sys.stderr)
        return 2
    password = os.environ.get(args.password_env) if args.password_env else None
    if args.password_env and password is None:
        print(
            f"error: --password-env {args.password_env}: the variable is not set", file=sys.stderr
        )
        return 2
    username = os.environ.get(args.username_env) if args.username_env else None
    token_source: TokenSource | None = None
    if args.iam:
        token_source = MetadataServerTokenSource()
    elif args.token_file:
        token_source = FileTokenSource(args.token_file)
    elif args.token_env:
        token_source = EnvTokenSource(args.token_env)
    try:
        settings: ProbeSettings = settings_from_env(
            # --host is an explicit target: its password comes from --password-env only.
            auth_from_env=args.host is None,
            host=args.host,
            port=args.port,
            tls=args.tls,
            ca_file=args.ca_file,
            password=password,
            username=username,
            deadline=args.deadline,
            rounds=args.rounds,
            cluster=args.cluster,
            token_source=token_source,
        )
    except ValueError as exc:
        # Still one JSON verdict on the last line: the job's reader depends on it.
        print(f"error: {exc}", file=sys.stderr)
        print(
            json.dumps(
                {
                    "ok": False,
                    "classification": "config",
                    "hint": HINTS["config"],
                    "error": str(exc),
                    "steps": [],
                    "latency_ms": None,
                },
                sort_keys=True,
            )
        )
        return 2
    result = Prober(settings).run()
    for step in result.steps:
        state = "ok" if step.ok else f"FAILED ({step.error})"
        print(f"{step.name:14s} {step.ms:9.2f} ms  {state}", file=sys.stderr)
    for node in result.nodes or []:
        state = "ok" if node.ok else f"FAILED {node.classification} ({node.error})"
        print(f"node {node.host}:{node.port} {node.role:8s} {state}", file=sys.stderr)
    print(json.dumps(result.to_json(), sort_keys=True))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
