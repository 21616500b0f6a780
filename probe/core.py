"""Connect to Redis the way the services do, step by step, and say exactly why it fails.

Steps: resolve, TCP connect, TLS handshake (with the instance's CA), AUTH, PING, a SET/GET/DEL
round trip on a probe-only key with a short TTL, then N PING round trips for latency. Each failure
is classified (docs/runbook.md, "What a failed probe means", says what each class means):

    dns       the name did not resolve (EAI_AGAIN / EAI_NONAME): nothing was sent
    refused   reachable, nothing listening on that port (often the TLS/non-TLS port mix-up)
    timeout   packets silently dropped: firewall deny, no peering, an overloaded connector
    no-route  no route to the address (EHOSTUNREACH / ENETUNREACH)
    tls       the TLS handshake or the certificate failed, or TLS and plain text are mixed up
    auth      NOAUTH / WRONGPASS: the network path works, the password does not
    protocol  something that is not Redis answered
    server    Redis answered with an error (max clients, LOADING, OOM): the path and AUTH work
    config    the probe's own settings are invalid (no host, a port that is not one)
    token     IAM authentication: the access token could not be obtained from its source

In cluster mode (Memorystore for Valkey with cluster mode enabled, Memorystore for Redis Cluster;
probe/cluster.py) the probe reads the topology at the discovery endpoint (CLUSTER SLOTS), then
checks every node (PING; on each shard's primary a SET/GET/DEL of a key whose hash tag routes to
that shard), each node classified on its own, plus:

    cluster-mode       cluster mode is on but the server has cluster support disabled, or off
                       while the server redirects (MOVED/ASK): REDIS_CLUSTER_MODE is wrong
    node-down          the topology lists a node and nothing listens on its port
    node-port-blocked  packets to a node's port are dropped (the discovery port passes)
    moved-loop         the nodes redirect the probe key to each other without end
    cluster-down       CLUSTERDOWN: not every slot is served

Transient failures (dns EAI_AGAIN, timeout, refused, no-route) are retried with exponential
backoff inside one overall deadline; every socket operation is bounded by what is left of it, so
the probe never hangs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
import ssl
import statistics
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import asdict, dataclass, field
from typing import Any

from probe.cluster import Node, Shard, TopologyError, parse_slots, redirect, tag_for
from probe.tokens import MetadataServerTokenSource, TokenError, TokenSource

HINTS = {
    "dns": "the Redis host name does not resolve: check REDIS_HOST (use the instance's IP from the stack outputs) and the service's DNS/egress settings",
    "refused": "the host is reachable but nothing listens on that port: check REDIS_PORT against the instance's port output (TLS instances serve on a different port)",
    "timeout": "packets are silently dropped: check the EGRESS allow firewall rule from the connector or Direct VPC egress tag to the Redis range, the peering (authorized network), and the connector's health",
    "no-route": "no route to the Redis address: the service is not egressing into the Redis network (check vpc_access and the connector's network)",
    "tls": "TLS failed: check REDIS_TLS against the instance's transit encryption and that the CA is the instance's server_ca_certs",
    "auth": "the network path works; the password was refused: check the REDIS_AUTH secret version against the instance's AUTH string",
    "protocol": "something that is not Redis answered on that address and port: check REDIS_HOST and REDIS_PORT",
    "server": "Redis answered with an error (max clients, loading, out of memory, read-only): the network and AUTH work; check the instance's state and limits",
    "config": "the probe's own settings are invalid (host, port): check REDIS_HOST and REDIS_PORT",
    "token": "IAM authentication: no access token from the token source (on Cloud Run the metadata server gives the service account's token): check the job's service account and that the probe runs on Cloud Run, or --token-file/--token-env by hand",
    "cluster-mode": "the probe's cluster mode disagrees with the server: REDIS_CLUSTER_MODE (--cluster) must follow the instance's cluster mode (Memorystore for Valkey with cluster mode enabled and Redis Cluster: true; Memorystore for Redis and Valkey with cluster mode disabled: false)",
    "node-down": "the discovery endpoint lists this node but nothing listens on its port: the node is down or restarting (a failover in progress) or the topology is stale; check the instance's state",
    "node-port-blocked": "the discovery endpoint answers but packets to this node's port are dropped: the EGRESS allow to the PSC subnet must cover the node ports as well as the discovery port (Google: TCP 6379 and 11000-13047 on every PSC endpoint)",
    "moved-loop": "the nodes redirect the probe key to each other (MOVED) without end: the cluster's slot map is inconsistent (resharding or failover in progress); check the instance's state, then probe again",
    "cluster-down": "the cluster answered CLUSTERDOWN: not every hash slot is served (a shard without a reachable primary); the network and AUTH work; check the instance's state and shards",
}
# A timeout after the TCP handshake completed is not a firewall drop: the SYN/ACK came back.
TIMEOUT_AFTER_CONNECT_HINT = (
    "the TCP connection was accepted but nothing answered in time: an overloaded connector, "
    "a busy or restarting Redis, or another service listening on that port"
)
# NOAUTH (or a PING refused for want of AUTH) with no password given is not a wrong password.
NO_PASSWORD_HINT = (
    "the network path works; the server requires a password and none was sent: pass it with "
    "--password-env VAR (or set REDIS_AUTH when the probe reads the services' env, no --host)"
)
# With IAM authentication the password is an access token: a refusal is a missing grant.
IAM_AUTH_HINT = (
    "the network path works; the IAM access token was refused: grant the service account "
    "roles/memorystore.dbConnectionUser (Valkey) or roles/redis.dbConnectionUser (Redis Cluster) "
    "and check that the instance's authorization mode is IAM"
)
AUTH_ERRORS = ("NOAUTH", "WRONGPASS", "ERR invalid password", "ERR AUTH", "ERR Client sent AUTH")
PROBE_KEY_PREFIX = "redis-vpc:probe:"
# Redirects followed for one key before it is called a loop (a resharding moves a slot once).
MAX_REDIRECTS = 5


class ProbeError(Exception):
    def __init__(self, classification: str, detail: str, *, transient: bool = False) -> None:
        super().__init__(detail)
        self.classification = classification
        self.detail = detail
        self.transient = transient


@dataclass(frozen=True)
class ProbeSettings:
    host: str
    port: int
    tls: bool = False
    ca_file: str | None = None
    ca_data: str | None = None
    password: str | None = None
    username: str | None = None
    deadline: float = 10.0
    rounds: int = 10
    attempt_timeout: float = 3.0
    key_ttl: int = 30
    cluster: bool = False
    # IAM authentication: the AUTH password is an access token from this source (probe/tokens.py).
    token_source: TokenSource | None = None


@dataclass
class Step:
    name: str
    ok: bool
    ms: float
    error: str | None = None


@dataclass
class NodeResult:
    host: str
    port: int
    role: str
    slots: list[list[int]]
    ok: bool = False
    classification: str | None = None
    hint: str | None = None
    error: str | None = None
    attempts: int = 0
    steps: list[Step] = field(default_factory=list)


@dataclass
class ProbeResult:
    ok: bool
    classification: str | None
    hint: str | None
    host: str
    port: int
    tls: bool
    steps: list[Step] = field(default_factory=list)
    latency_ms: dict[str, float] | None = None
    attempts: int = 0
    elapsed_ms: float = 0.0
    error: str | None = None
    cluster: bool = False
    nodes: list[NodeResult] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.end = clock() + seconds

    def left(self) -> float:
        return max(0.0, self.end - self.clock())

    def bound(self, cap: float) -> float:
        left = self.left()
        if left <= 0:
            raise ProbeError("timeout", "overall deadline reached", transient=False)
        return min(cap, left)


def classify_oserror(exc: OSError) -> ProbeError:
    """Map a socket error from connect/read to a classification."""
    if isinstance(exc, ssl.SSLError):
        return ProbeError("tls", f"TLS error: {exc}")
    if isinstance(exc, socket.timeout | TimeoutError):
        return ProbeError("timeout", "no answer before the timeout", transient=True)
    code = exc.errno
    if code == errno.ECONNREFUSED:
        return ProbeError("refused", "connection refused", transient=True)
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return ProbeError(
            "no-route", f"no route to host ({errno.errorcode.get(code, code)})", transient=True
        )
    if code in (errno.ETIMEDOUT,):
        return ProbeError("timeout", "connect timed out", transient=True)
    if code in (errno.ECONNRESET, errno.EPIPE):
        return ProbeError("protocol", f"connection reset by the server ({exc})")
    return ProbeError("protocol", f"socket error: {exc}")


def classify_gaierror(exc: socket.gaierror) -> ProbeError:
    if exc.errno == socket.EAI_AGAIN:
        return ProbeError(
            "dns", f"name resolution failed temporarily (EAI_AGAIN): {exc}", transient=True
        )
    return ProbeError("dns", f"name does not resolve: {exc}")


class RespError(Exception):
    pass


class _Conn:
    """A minimal RESP2 client: enough to speak to Redis and to notice when it is not Redis."""

    def __init__(
        self, sock: socket.socket, deadline: _Deadline, timeout: float, *, tls: bool
    ) -> None:
        self.sock = sock
        self.deadline = deadline
        self.timeout = timeout
        self.tls = tls
        self.answered = False
        self.buf = b""

    def _recv(self) -> bytes:
        self.sock.settimeout(self.deadline.bound(self.timeout))
        try:
            data = self.sock.recv(65536)
        except OSError as exc:
            raise classify_oserror(exc) from None
        if not data:
            raise ProbeError("protocol", "the server closed the connection without an answer")
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self.buf += self._recv()
            if len(self.buf) > 1 << 20:
                raise ProbeError("protocol", "an over-long line without CRLF: not Redis")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self.buf += self._recv()
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def reply(self) -> Any:
        line = self._line()
        if not line:
            raise ProbeError("protocol", "an empty line where a RESP reply was expected")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode(errors="replace")
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        if line[:1] in (b"\x15", b"\x16"):
            raise ProbeError(
                "tls", "the server answered with TLS records: it expects TLS (set REDIS_TLS=true)"
            )
        shown = line[:40].decode(errors="replace")
        raise ProbeError("protocol", f"not a Redis reply: {shown!r}")

    def command(self, *args: str) -> Any:
        payload = f"*{len(args)}\r\n".encode()
        for a in args:
            b = a.encode()
            payload += b"$" + str(len(b)).encode() + b"\r\n" + b + b"\r\n"
        self.sock.settimeout(self.deadline.bound(self.timeout))
        try:
            try:
                self.sock.sendall(payload)
            except OSError as exc:
                raise classify_oserror(exc) from None
            try:
                answer = self.reply()
            except ValueError:
                raise ProbeError("protocol", "a malformed RESP reply") from None
        except ProbeError as failure:
            # A TLS-only port drops a plain-text client without a word.
            if (
                not self.tls
                and not self.answered
                and failure.classification == "protocol"
                and ("closed" in failure.detail or "reset" in failure.detail)
            ):
                raise ProbeError(
                    "tls",
                    "the server closed the connection on a plain-text command: it expects TLS",
                ) from None
            raise
        self.answered = True
        return answer


def _ssl_context(settings: ProbeSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=settings.ca_file, cadata=settings.ca_data)
    # Memorystore's server certificate names the instance, not the IP clients dial; the CA pins it.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class Prober:
    def __init__(
        self,
        settings: ProbeSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        resolver: Callable[..., Any] = socket.getaddrinfo,
    ) -> None:
        self.s = settings
        self.clock, self.sleep, self.resolver = clock, sleep, resolver
        self.password: str | None = settings.password
        self.shards: list[Shard] = []

    def run(self) -> ProbeResult:
        start = self.clock()
        deadline = _Deadline(self.s.deadline, self.clock)
        result = ProbeResult(
            False, None, None, self.s.host, self.s.port, self.s.tls, cluster=self.s.cluster
        )
        token_steps: list[Step] = []
        try:
            if self.s.token_source is not None:
                self.password = self._step(token_steps, "token", lambda: self._token(deadline))
        except ProbeError as failure:
            token_steps[-1].error = failure.detail
            result.steps, result.classification, result.error = token_steps, "token", failure.detail
        else:
            result.latency_ms = self._retrying(
                result, deadline, lambda steps: self._attempt(deadline, steps)
            )
            result.steps[:0] = token_steps
            if result.ok and self.s.cluster:
                self._check_cluster(result, deadline)
        if result.classification is not None:
            result.hint = self._hint(result.classification, result.steps)
        if result.ok:
            result.classification = result.hint = result.error = None
        result.elapsed_ms = round((self.clock() - start) * 1000, 2)
        return result

    def _token(self, deadline: _Deadline) -> str:
        source = self.s.token_source
        assert source is not None
        try:
            return source.token(deadline.bound(self.s.attempt_timeout))
        except TokenError as exc:
            raise ProbeError("token", str(exc)) from None

    def _hint(self, classification: str, steps: list[Step]) -> str:
        connected = any(st.name == "tcp_connect" and st.ok for st in steps)
        if classification == "timeout" and connected:
            return TIMEOUT_AFTER_CONNECT_HINT
        if classification == "auth" and self.s.token_source is not None:
            return IAM_AUTH_HINT
        if classification == "auth" and not self.password:
            return NO_PASSWORD_HINT
        return HINTS[classification]

    def _retrying(
        self, result: ProbeResult | NodeResult, deadline: _Deadline, attempt: Callable[..., Any]
    ) -> Any:
        """Run `attempt(steps)` until it passes, fails for good, or the deadline comes."""
        backoff = 0.2
        while True:
            result.attempts += 1
            result.steps = []
            try:
                value = attempt(result.steps)
                result.ok = True
                return value
            except ProbeError as failure:
                result.classification, result.error = failure.classification, failure.detail
                if result.steps and result.steps[-1].ok is False:
                    result.steps[-1].error = failure.detail
                if not failure.transient or deadline.left() <= backoff:
                    return None
                self.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def _step(self, steps: list[Step], name: str, fn: Callable[[], Any]) -> Any:
        t = self.clock()
        try:
            value = fn()
        except ProbeError:
            steps.append(Step(name, False, round((self.clock() - t) * 1000, 2)))
            raise
        steps.append(Step(name, True, round((self.clock() - t) * 1000, 2)))
        return value

    def _open(
        self, host: str, port: int, deadline: _Deadline, steps: list[Step]
    ) -> tuple[socket.socket, _Conn]:
        """Resolve, connect, TLS handshake and AUTH: a connection ready for commands."""
        s = self.s

        def resolve() -> Any:
            # getaddrinfo has no timeout of its own: bound it by the deadline from a worker.
            pool = futures.ThreadPoolExecutor(max_workers=1)
            job = pool.submit(self.resolver, host, port, type=socket.SOCK_STREAM)
            pool.shutdown(wait=False)
            try:
                infos = job.result(timeout=deadline.bound(s.attempt_timeout))
            except futures.TimeoutError:
                raise ProbeError(
                    "dns", "name resolution did not answer in time", transient=True
                ) from None
            except socket.gaierror as exc:
                raise classify_gaierror(exc) from None
            except UnicodeError:
                raise ProbeError("dns", f"{host!r} is not a valid host name") from None
            return infos[0]

        family, socktype, proto, _, addr = self._step(steps, "resolve", resolve)

        def connect() -> socket.socket:
            sock = socket.socket(family, socktype, proto)
            sock.settimeout(deadline.bound(s.attempt_timeout))
            try:
                sock.connect(addr)
            except OSError as exc:
                sock.close()
                raise classify_oserror(exc) from None
            return sock

        sock = self._step(steps, "tcp_connect", connect)
        try:
            if s.tls:

                def handshake() -> socket.socket:
                    try:
                        ctx = _ssl_context(s)
                    except (OSError, ssl.SSLError) as exc:
                        raise ProbeError("tls", f"cannot load the CA: {exc}") from None
                    tls_sock = ctx.wrap_socket(sock, do_handshake_on_connect=False)
                    tls_sock.settimeout(deadline.bound(s.attempt_timeout))
                    try:
                        tls_sock.do_handshake()
                    except ssl.SSLCertVerificationError as exc:
                        raise ProbeError(
                            "tls", f"certificate not trusted: {exc.verify_message}"
                        ) from None
                    except ssl.SSLError as exc:
                        raise ProbeError(
                            "tls", f"TLS handshake failed: {exc.reason or exc}"
                        ) from None
                    except OSError as exc:
                        failure = classify_oserror(exc)
                        if failure.classification in ("protocol", "timeout"):
                            failure = ProbeError("tls", f"TLS handshake failed: {failure.detail}")
                        raise failure from None
                    return tls_sock

                sock = self._step(steps, "tls_handshake", handshake)
            conn = _Conn(sock, deadline, s.attempt_timeout, tls=s.tls)

            if self.password:

                def auth() -> None:
                    password = self.password or ""
                    args = ["AUTH", s.username, password] if s.username else ["AUTH", password]
                    try:
                        conn.command(*args)
                    except RespError as exc:
                        raise reply_error("AUTH", str(exc)) from None

                self._step(steps, "auth", auth)
        except BaseException:
            with contextlib.suppress(OSError):
                sock.close()
            raise
        return sock, conn

    def _ping(self, conn: _Conn, steps: list[Step]) -> None:
        def ping() -> None:
            try:
                answer = conn.command("PING")
            except RespError as exc:
                raise reply_error("PING", str(exc)) from None
            if answer != "PONG":
                raise ProbeError("protocol", f"PING answered {answer!r}, not PONG")

        self._step(steps, "ping", ping)

    def _attempt(self, deadline: _Deadline, steps: list[Step]) -> dict[str, float]:
        s = self.s
        sock, conn = self._open(s.host, s.port, deadline, steps)
        try:
            self._ping(conn, steps)
            if s.cluster:

                def topology() -> list[Shard]:
                    try:
                        reply = conn.command("CLUSTER", "SLOTS")
                    except RespError as exc:
                        if "cluster support disabled" in str(exc):
                            raise ProbeError(
                                "cluster-mode",
                                f"cluster mode is on but the server is not a cluster: {exc}",
                            ) from None
                        raise reply_error("CLUSTER SLOTS", str(exc)) from None
                    try:
                        return parse_slots(reply, s.host)
                    except TopologyError as exc:
                        raise ProbeError("protocol", str(exc)) from None

                self.shards = self._step(steps, "cluster_slots", topology)
            else:

                def round_trip() -> None:
                    key = PROBE_KEY_PREFIX + secrets.token_hex(8)
                    self._set_get_del(conn, key)

                self._step(steps, "set_get_del", round_trip)

            def latency() -> dict[str, float]:
                # Every step has passed by now: when the deadline comes, report what was
                # measured instead of failing a working path.
                samples: list[float] = []
                for _ in range(max(1, s.rounds)):
                    if deadline.left() < 2 * s.attempt_timeout / 10 and samples:
                        break
                    t = time.perf_counter()
                    try:
                        conn.command("PING")
                    except ProbeError:
                        if samples:
                            break
                        raise
                    samples.append((time.perf_counter() - t) * 1000)
                return percentiles(samples)

            return dict(self._step(steps, "latency", latency))
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _set_get_del(self, conn: _Conn, key: str, asking: bool = False) -> None:
        value = secrets.token_hex(16)

        def cmd(*args: str) -> Any:
            if asking:
                conn.command("ASKING")
            return conn.command(*args)

        cmd("SET", key, value, "EX", str(self.s.key_ttl))
        got = cmd("GET", key)
        cmd("DEL", key)
        if got != value:
            raise ProbeError("protocol", "GET did not return what SET stored")

    # Cluster mode: every node of the topology, in parallel, each within the overall deadline.

    def _check_cluster(self, result: ProbeResult, deadline: _Deadline) -> None:
        checks: list[tuple[Node, Shard]] = [
            (node, shard) for shard in self.shards for node in (shard.primary, *shard.replicas)
        ]
        with futures.ThreadPoolExecutor(max_workers=min(16, len(checks))) as pool:
            nodes = list(pool.map(lambda c: self._check_node(c[0], c[1], deadline), checks))
        result.nodes = nodes
        failed = [n for n in nodes if not n.ok]
        if failed:
            first = failed[0]
            result.ok = False
            result.classification = first.classification
            result.error = (
                f"{len(failed)} of {len(nodes)} cluster nodes failed; first "
                f"{first.host}:{first.port} ({first.role}, slots "
                f"{', '.join(f'{a}-{b}' for a, b in first.slots)}): {first.error}"
            )
            result.hint = first.hint

    def _check_node(self, node: Node, shard: Shard, deadline: _Deadline) -> NodeResult:
        out = NodeResult(node.host, node.port, node.role, [list(r) for r in shard.ranges])

        def attempt(steps: list[Step]) -> None:
            sock, conn = self._open(node.host, node.port, deadline, steps)
            try:
                self._ping(conn, steps)
                if node.role == "primary":
                    start, end = shard.ranges[0]
                    key = f"{PROBE_KEY_PREFIX}{{{tag_for(start, end)}}}:{secrets.token_hex(8)}"
                    self._step(
                        steps,
                        "set_get_del",
                        lambda: self._routed(conn, node, key, deadline),
                    )
            finally:
                with contextlib.suppress(OSError):
                    sock.close()

        self._retrying(out, deadline, attempt)
        if not out.ok and out.classification is not None:
            connected = any(st.name == "tcp_connect" and st.ok for st in out.steps)
            if out.classification == "refused":
                out.classification = "node-down"
            elif out.classification == "timeout" and not connected:
                out.classification = "node-port-blocked"
            out.hint = self._hint(out.classification, out.steps)
        return out

    def _routed(self, conn: _Conn, node: Node, key: str, deadline: _Deadline) -> None:
        """SET/GET/DEL of `key` from `node`, following MOVED/ASK as a cluster client does."""
        visited = [node.address]
        opened: list[socket.socket] = []
        current, host, asking = conn, node.host, False
        try:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    self._set_get_del(current, key, asking)
                    return
                except RespError as exc:
                    target = redirect(str(exc))
                    if target is None:
                        raise reply_error("SET/GET/DEL", str(exc)) from None
                kind, slot, to_host, to_port = target
                to_host = to_host or host
                address = f"{to_host}:{to_port}"
                if kind == "MOVED" and address in visited:
                    raise ProbeError(
                        "moved-loop",
                        f"slot {slot}: MOVED back to {address} after {' -> '.join(visited)}",
                    )
                visited.append(address)
                sock, current = self._open(to_host, to_port, deadline, [])
                opened.append(sock)
                host, asking = to_host, kind == "ASK"
            raise ProbeError(
                "moved-loop", f"more than {MAX_REDIRECTS} redirects: {' -> '.join(visited)}"
            )
        finally:
            for sock in opened:
                with contextlib.suppress(OSError):
                    sock.close()


def reply_error(command: str, text: str) -> ProbeError:
    """A Redis error reply: an AUTH problem, a cluster state, or the server refusing work."""
    if text.startswith(AUTH_ERRORS):
        return ProbeError("auth", f"{command} refused: {text}")
    if text.startswith("CLUSTERDOWN"):
        return ProbeError("cluster-down", f"{command} answered: {text}")
    if redirect(text) is not None:
        # Only a cluster redirects; in cluster mode _routed follows redirects before this.
        return ProbeError(
            "cluster-mode", f"{command} was redirected ({text}): the server is a cluster"
        )
    return ProbeError("server", f"{command} answered with an error: {text}")


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        if len(ordered) == 1:
            return ordered[0]
        k = (len(ordered) - 1) * p
        lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

    return {
        "rounds": float(len(ordered)),
        "min": round(ordered[0], 3),
        "p50": round(pct(0.50), 3),
        "p90": round(pct(0.90), 3),
        "p99": round(pct(0.99), 3),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


def settings_from_env(
    env: dict[str, str] | None = None, *, auth_from_env: bool = True, **overrides: Any
) -> ProbeSettings:
    """Inside Cloud Run: the same env vars the services get (REDIS_HOST, REDIS_PORT, REDIS_TLS,
    REDIS_AUTH, REDIS_CA_CERT, and for the PSC products REDIS_CLUSTER_MODE and REDIS_IAM_AUTH).
    REDIS_CLUSTER_MODE=true: the host and port are the discovery endpoint (cluster mode).
    REDIS_IAM_AUTH=true: the AUTH password is the service account's access token from the
    metadata server (probe/tokens.py). With `auth_from_env=False` neither REDIS_AUTH nor
    REDIS_IAM_AUTH is read: credentials are sent only when passed in."""
    env = dict(os.environ if env is None else env)
    if not auth_from_env:
        env.pop("REDIS_AUTH", None)
        env.pop("REDIS_IAM_AUTH", None)
    raw_port = env.get("REDIS_PORT", "6379") or "6379"
    if not raw_port.isdigit():
        raise ValueError(f"REDIS_PORT={raw_port!r} is not a port number")
    base: dict[str, Any] = {
        "host": env.get("REDIS_HOST", ""),
        "port": int(raw_port),
        "tls": env.get("REDIS_TLS", "false").lower() in ("1", "true", "yes"),
        "ca_data": env.get("REDIS_CA_CERT") or None,
        "password": env.get("REDIS_AUTH") or None,
        "cluster": env_flag(env, "REDIS_CLUSTER_MODE"),
    }
    if env_flag(env, "REDIS_IAM_AUTH"):
        base["token_source"] = MetadataServerTokenSource()
    base.update({k: v for k, v in overrides.items() if v is not None})
    if not 1 <= int(base["port"]) <= 65535:
        raise ValueError(f"port {base['port']} is outside 1-65535")
    if not base["host"]:
        raise ValueError("no host: give --host or set REDIS_HOST")
    if base.get("token_source") is not None and base.get("password"):
        raise ValueError("IAM authentication and a password are exclusive: give one of them")
    return ProbeSettings(**base)


def env_flag(env: dict[str, str], name: str) -> bool:
    """A boolean env var: unset or empty is false; anything but true/false/1/0/yes/no is refused."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name}={env[name]!r} is not a boolean (true or false)")
