"""A rate-limit service for the tests: Envoy's gRPC `envoy.service.ratelimit.v3.RateLimitService`
(`ShouldRateLimit`) over fixed windows in Redis, counted the way envoyproxy/ratelimit counts them.

envoyproxy/ratelimit is what production runs (README.md beside this file); it cannot be installed
on the test machines, so the integration tests run this instead. What it shares with
envoyproxy/ratelimit (src/config/config_impl.go, src/limiter/cache_key.go,
src/redis/fixed_cache_impl.go, src/limiter/base_limiter.go, src/utils/utilities.go):

- the limits config: `domain` and nested `descriptors` (`key`, optional `value`, `rate_limit` with
  `unit` and `requests_per_unit`, or `unlimited`), matched entry by entry, `key_value` before `key`,
  a limit applying only when it sits at the descriptor's last entry;
- the Redis key `<prefix><domain>_<key>_<value>_..._<window start>` with the window start
  `now // unit * unit` (unix seconds), and per descriptor one pipeline of `INCRBY key hits` and
  `EXPIRE key unit + jitter`, a check-only call (`hits` 0) included;
- hits per descriptor: the descriptor's own `hits_addend` when set (0 means check only), else the
  request's `hits_addend`, else 1;
- the answer: OVER_LIMIT when the count after the increment exceeds `requests_per_unit` (so a
  window used up exactly still passes a check-only call), `limit_remaining` the rest or 0,
  `duration_until_reset` the rest of the window, `overall_code` OVER_LIMIT when any descriptor is.

What it leaves out is listed in README.md ("How the test service differs").

    python server.py --config limits.yaml --redis 127.0.0.1:6379 [--port 0] [--frozen-time UNIX]
    REDIS_AUTH=user:password or REDIS_AUTH=password   (as envoyproxy/ratelimit's REDIS_AUTH)

It prints `ratelimit-service: listening on 127.0.0.1:<port> ...` once Redis answers PING and the
gRPC port is bound; a bad config exits with status 2 and one line naming the file, the field, the
value and what was expected.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import redis
import yaml
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc

Response = rls_pb2.RateLimitResponse

# Seconds per unit, as envoyproxy/ratelimit's utils.UnitToDivider.
UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 60 * 60,
    "day": 60 * 60 * 24,
    "week": 60 * 60 * 24 * 7,
    "month": 60 * 60 * 24 * 30,
    "year": 60 * 60 * 24 * 365,
}
MAX_UINT32 = 2**32 - 1

ROOT_KEYS = {"domain", "descriptors"}
DESCRIPTOR_KEYS = {"key", "value", "rate_limit", "descriptors", "shadow_mode"}
RATE_LIMIT_KEYS = {"unit", "requests_per_unit", "unlimited", "name"}
# envoyproxy/ratelimit's keys this service does not implement: refused by name, not ignored.
UNSUPPORTED_KEYS = {"replaces", "detailed_metric", "value_to_metric", "share_threshold", "quota_mode", "metadata"}


_LOG_LOCK = threading.Lock()


def log(message: str) -> None:
    # One write per line under a lock: print() writes the text and its newline separately, and
    # two gRPC worker threads once interleaved them into one line ("...OVER_LIMITratelimit-service:
    # ..."), which a reader that counts lines (the fleet tests) read as one call too few.
    with _LOG_LOCK:
        sys.stderr.write(f"ratelimit-service: {message}\n")
        sys.stderr.flush()


class ConfigError(Exception):
    """A limits config that cannot be used; the message names the file, the field and the value."""


@dataclass
class Limit:
    requests_per_unit: int
    unit: str
    unlimited: bool = False
    shadow_mode: bool = False
    name: str = ""

    @property
    def seconds(self) -> int:
        return UNIT_SECONDS[self.unit]

    def proto(self) -> Response.RateLimit:
        return Response.RateLimit(
            name=self.name,
            requests_per_unit=self.requests_per_unit,
            unit=Response.RateLimit.Unit.Value(self.unit.upper()),
        )


@dataclass
class Node:
    """One level of a domain's descriptor tree: children by `key_value` or `key`."""

    children: dict[str, "Node"] = field(default_factory=dict)
    limit: Limit | None = None


def _check_keys(where: str, mapping: object, allowed: set[str]) -> dict:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(mapping).__name__} {mapping!r}")
    for key in mapping:
        if key in UNSUPPORTED_KEYS:
            raise ConfigError(f"{where}.{key}: supported by envoyproxy/ratelimit, not by this test service")
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key (expected one of {', '.join(sorted(allowed))})")
    return mapping


def _string(where: str, value: object) -> str:
    if not isinstance(value, str) or value == "":
        raise ConfigError(f"{where}: {value!r} is not a non-empty string")
    return value


def _bool(where: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not true or false")
    return value


def _load_rate_limit(where: str, raw: object, shadow_mode: bool) -> Limit:
    raw = _check_keys(where, raw, RATE_LIMIT_KEYS)
    unlimited = _bool(f"{where}.unlimited", raw.get("unlimited", False))
    name = _string(f"{where}.name", raw["name"]) if "name" in raw else ""
    if unlimited:
        if "unit" in raw or "requests_per_unit" in raw:
            raise ConfigError(f"{where}: an unlimited rate_limit takes no unit and no requests_per_unit")
        return Limit(0, "second", unlimited=True, shadow_mode=shadow_mode, name=name)
    unit = raw.get("unit")
    if not isinstance(unit, str) or unit.lower() not in UNIT_SECONDS:
        raise ConfigError(f"{where}.unit: {unit!r} is not one of {', '.join(UNIT_SECONDS)}")
    rpu = raw.get("requests_per_unit")
    if isinstance(rpu, bool) or not isinstance(rpu, int) or not 0 <= rpu <= MAX_UINT32:
        raise ConfigError(f"{where}.requests_per_unit: {rpu!r} is not an integer from 0 to {MAX_UINT32}")
    return Limit(rpu, unit.lower(), shadow_mode=shadow_mode, name=name)


def _load_descriptors(where: str, raw: object, node: Node) -> None:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of descriptors, got {raw!r}")
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        item = _check_keys(here, item, DESCRIPTOR_KEYS)
        if "key" not in item:
            raise ConfigError(f"{here}.key: missing (every descriptor needs a key)")
        key = _string(f"{here}.key", item["key"])
        value = _string(f"{here}.value", item["value"]) if "value" in item else ""
        if "*" in value:
            raise ConfigError(f"{here}.value: {value!r}: wildcards are envoyproxy/ratelimit's, not this test service's")
        composite = f"{key}_{value}" if value else key
        if composite in node.children:
            raise ConfigError(f"{here}: duplicate descriptor {composite!r} at this level")
        shadow = _bool(f"{here}.shadow_mode", item.get("shadow_mode", False))
        child = Node()
        if "rate_limit" in item:
            child.limit = _load_rate_limit(f"{here}.rate_limit", item["rate_limit"], shadow)
        _load_descriptors(f"{here}.descriptors", item.get("descriptors", []), child)
        node.children[composite] = child


def load_config(path: str) -> tuple[str, Node]:
    """Parses one limits file: its domain and descriptor tree, or a ConfigError."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: {err}") from None
    root = _check_keys(path, raw, ROOT_KEYS)
    domain = _string(f"{path}: domain", root.get("domain"))
    tree = Node()
    _load_descriptors(f"{path}: descriptors", root.get("descriptors", []), tree)
    return domain, tree


def describe(prefix: str, node: Node) -> list[str]:
    """One line per limit: `<domain>.<key>[_<value>]... <requests_per_unit>/<unit>` (or `unlimited`), as the check prints them."""
    lines = []
    for composite, child in node.children.items():
        here = f"{prefix}.{composite}"
        if child.limit is not None:
            lim = child.limit
            what = "unlimited" if lim.unlimited else f"{lim.requests_per_unit}/{lim.unit}"
            lines.append(f"{here} {what}{' shadow_mode' if lim.shadow_mode else ''}")
        lines += describe(here, child)
    return lines


def find_limit(tree: Node, descriptor) -> Limit | None:
    """envoyproxy/ratelimit's GetLimit, without wildcards: walk the entries, `key_value` before `key`."""
    if descriptor.HasField("limit"):
        # A limit override sent by Envoy replaces the config (and is never in shadow mode).
        unit = Response.RateLimit.Unit.Name(descriptor.limit.unit).lower()
        return Limit(descriptor.limit.requests_per_unit, unit) if unit in UNIT_SECONDS else None
    level = tree
    found: Limit | None = None
    entries = list(descriptor.entries)
    for i, entry in enumerate(entries):
        nxt = level.children.get(f"{entry.key}_{entry.value}") or level.children.get(entry.key)
        if nxt is not None and nxt.limit is not None and i == len(entries) - 1:
            found = nxt.limit
        if nxt is None or not nxt.children:
            break
        level = nxt
    return found


def cache_key(prefix: str, domain: str, descriptor, limit: Limit, now: int) -> str:
    """envoyproxy/ratelimit's key: `<prefix><domain>_<key>_<value>_..._<window start>`."""
    parts = [prefix, domain, "_"]
    for entry in descriptor.entries:
        parts += [entry.key, "_", entry.value, "_"]
    parts.append(str(now // limit.seconds * limit.seconds))
    return "".join(parts)


def hits_addends(request) -> list[int]:
    """Per descriptor: its own hits_addend when set (0 = check only), else max(1, the request's)."""
    return [d.hits_addend.value if d.HasField("hits_addend") else max(1, request.hits_addend) for d in request.descriptors]


class RateLimitService(rls_pb2_grpc.RateLimitServiceServicer):
    def __init__(self, domains: dict[str, Node], store: redis.Redis, prefix: str, jitter_max_s: int, clock):
        self.domains = domains
        self.store = store
        self.prefix = prefix
        self.jitter_max_s = jitter_max_s
        self.clock = clock
        self.random = random.Random()
        self.lock = threading.Lock()

    def _jitter(self) -> int:
        if self.jitter_max_s <= 0:
            return 0
        with self.lock:
            return self.random.randrange(self.jitter_max_s)

    def ShouldRateLimit(self, request, context):
        if request.domain == "":
            context.abort(grpc.StatusCode.UNKNOWN, "rate limit domain must not be empty")
        if len(request.descriptors) == 0:
            context.abort(grpc.StatusCode.UNKNOWN, "rate limit descriptor list must not be empty")
        now = self.clock()
        tree = self.domains.get(request.domain)
        limits = [find_limit(tree, d) if tree is not None else None for d in request.descriptors]
        hits = hits_addends(request)
        keys = [
            cache_key(self.prefix, request.domain, d, lim, now) if lim is not None and not lim.unlimited else None
            for d, lim in zip(request.descriptors, limits)
        ]
        counts: dict[int, int] = {}
        if any(k is not None for k in keys):
            pipe = self.store.pipeline(transaction=False)
            for i, key in enumerate(keys):
                if key is not None:
                    pipe.incrby(key, hits[i])
                    pipe.expire(key, limits[i].seconds + self._jitter())
            try:
                replies = pipe.execute()
            except redis.RedisError as err:
                log(f"redis error: {err}")
                context.abort(grpc.StatusCode.UNAVAILABLE, f"redis: {err}")
            it = iter(replies)
            for i, key in enumerate(keys):
                if key is not None:
                    counts[i] = int(next(it))
                    next(it)  # EXPIRE's reply

        response = Response(overall_code=Response.OK)
        for i, (descriptor, limit) in enumerate(zip(request.descriptors, limits)):
            if limit is None:
                status = Response.DescriptorStatus(code=Response.OK)
            elif limit.unlimited:
                status = Response.DescriptorStatus(code=Response.OK, limit_remaining=MAX_UINT32)
            else:
                after = counts[i]
                over = after > limit.requests_per_unit
                status = Response.DescriptorStatus(
                    code=Response.OVER_LIMIT if over and not limit.shadow_mode else Response.OK,
                    current_limit=limit.proto(),
                    limit_remaining=0 if over else limit.requests_per_unit - after,
                )
                status.duration_until_reset.seconds = limit.seconds - now % limit.seconds
            if status.code == Response.OVER_LIMIT:
                response.overall_code = Response.OVER_LIMIT
            response.statuses.append(status)
            entries = ",".join(f"{e.key}={e.value}" for e in descriptor.entries)
            counted = f"{keys[i]} {counts[i]}" if keys[i] is not None else "no limit" if limit is None else "unlimited"
            log(f"{request.domain} ({entries}) +{hits[i]}: {counted} -> {Response.Code.Name(status.code)}")
        return response


def main() -> int:
    parser = argparse.ArgumentParser(description="A rate-limit service for Envoy's tests, over fixed windows in Redis.")
    parser.add_argument("--config", action="append", required=True, help="a limits file (one domain each); repeatable")
    parser.add_argument("--redis", help="host:port of Redis (REDIS_AUTH: password or user:password); required unless --check")
    parser.add_argument("--check", action="store_true", help="load the configs, print what they define and exit (as envoyproxy/ratelimit's config_check_cmd)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port, printed when ready")
    parser.add_argument("--cache-key-prefix", default="", help="as envoyproxy/ratelimit's CACHE_KEY_PREFIX")
    parser.add_argument("--expiration-jitter-max-seconds", type=int, default=300, help="as envoyproxy/ratelimit's EXPIRATION_JITTER_MAX_SECONDS")
    parser.add_argument("--frozen-time", type=int, help="tests only: the clock always reads these unix seconds")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()

    domains: dict[str, Node] = {}
    try:
        for path in args.config:
            domain, tree = load_config(path)
            if domain in domains:
                raise ConfigError(f"{path}: domain: {domain!r} is already defined by another file")
            domains[domain] = tree
    except ConfigError as err:
        log(f"config error: {err}")
        return 2
    if args.check:
        for domain, tree in domains.items():
            for line in describe(domain, tree):
                print(line, flush=True)
        return 0
    if not args.redis:
        parser.error("--redis is required unless --check")

    host, _, port = args.redis.rpartition(":")
    auth = os.environ.get("REDIS_AUTH", "")
    username, _, password = auth.rpartition(":") if ":" in auth else ("", "", auth)
    store = redis.Redis(
        host=host or "127.0.0.1",
        port=int(port),
        username=username or None,
        password=password or None,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
    )
    try:
        store.ping()
    except redis.RedisError as err:
        log(f"redis {args.redis}: {err}")
        return 1

    frozen = args.frozen_time
    clock = (lambda: frozen) if frozen is not None else (lambda: int(time.time()))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    rls_pb2_grpc.add_RateLimitServiceServicer_to_server(
        RateLimitService(domains, store, args.cache_key_prefix, args.expiration_jitter_max_seconds, clock), server
    )
    try:
        bound = server.add_insecure_port(f"{args.host}:{args.port}")
    except RuntimeError as err:
        log(f"cannot bind {args.host}:{args.port}: {err}")
        return 1
    if bound == 0:
        log(f"cannot bind {args.host}:{args.port}")
        return 1
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    clock_note = f", clock frozen at {frozen}" if frozen is not None else ""
    log(f"listening on {args.host}:{bound} (redis {args.redis}, domains {', '.join(sorted(domains))}{clock_note})")
    stopped.wait()
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
