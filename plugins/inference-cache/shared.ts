// The shared tier: the same records as the local tier, in Redis behind Webdis, reached with
// `http_call` to the Envoy cluster `shared_tier.cluster`, so several Envoy instances share what
// one of them stored. It fails open: an error, a refusal or a timeout makes the request a MISS
// (reason shared-tier-error), never an error for the client.
//
// Webdis (envoy/shared-store/README.md has the exchanges as measured):
//   read:  GET /GET/<key>.raw  -> 200 with the value as RESP (`$<n>\r\n<bytes>\r\n`, `$-1\r\n` when absent)
//   write: PUT /SETEX/<key>/<seconds>.raw with the record as the body -> 200 `+OK\r\n`
// Anything else (another status, `-ERR ...`, a reset, the call's timeout: a hung Redis is never
// answered by Webdis) is a shared-tier error. Webdis 0.1.9 may hand a late answer of an abandoned
// call to another request, so a value is trusted only if the record inside carries this key.
// Keys are `<key_prefix><tenant digest | "shared" | "_">:<64 hex>` (assembly/cache/entry.ts redisKey),
// one URL path segment each.
//
// Writes are dispatched for the stage's root context, not the request's: Envoy runs every
// `http_call` on the root context (proxy-wasm cpp-host `http_call` takes
// `contextOrEffectiveContext()->root_context()`), and cancels pending calls only when that root
// context goes away (Context::~Context), so the end of the stream that stored the entry (the
// client may already be gone) cannot cancel its write; the answer is counted at the root.

import { HeaderPair, HttpCallHandler, HttpCallResponse, httpCall, nowMillis } from "../../assembly/index";
import { CacheEntry, ENTRY_KEY_BYTES, decodeEntry, entryExpired, redisKey } from "../../assembly/cache/entry";
import { Exchange } from "../../assembly/pipeline/index";
import { StageRoot } from "../../assembly/pipeline/stage";
import { MAX_TTL_MS, SharedTier } from "./config";
import { CacheMetrics, SharedOp, Tier } from "./metrics";
import { Reason } from "./policy";

/** Who waits for a read: the stage of one request. */
export abstract class SharedReadTarget {
  /** `entry` is a fresh record of the key, or null (`failure` says why when it was an error). */
  abstract answer(entry: CacheEntry | null, failure: Reason): void;
}

export class SharedTierClient {
  constructor(private tier: SharedTier, private metrics: CacheMetrics, private root: StageRoot) {}

  /** Starts the read of `hexKey`, a record served at most `maxAgeMs` old (the reader's `ttl_ms`); false when Envoy refused the call (counted, the request goes on). */
  read(ex: Exchange, tenant: string, shared: bool, maxAgeMs: u32, key: ArrayBuffer, hexKey: string, target: SharedReadTarget): bool {
    const tier = this.tier;
    const path = "/GET/" + redisKey(tier.keyPrefix, tenant, shared, hexKey) + ".raw";
    // The answer comes in a later call: the handler keeps a copy of the key (the caller's is reused).
    const handler = new SharedRead(this.metrics, key.slice(0), nowMillis(), <u64>maxAgeMs, target, this.root.rootContextId);
    if (ex.httpCall(tier.cluster, requestHeaders("GET", path), null, tier.timeoutMs, handler) != 0) return true;
    this.metrics.sharedErrors[SharedOp.Read].increment(1);
    return false;
  }

  /** Stores `record` for `ttlMs` (rounded up to whole seconds, as SETEX takes them). */
  write(tenant: string, shared: bool, hexKey: string, record: ArrayBuffer, ttlMs: u32): void {
    const tier = this.tier;
    const seconds = (ttlMs + 999) / 1000;
    const path = "/SETEX/" + redisKey(tier.keyPrefix, tenant, shared, hexKey) + "/" + seconds.toString() + ".raw";
    const token = httpCall(this.root.rootContextId, tier.cluster, requestHeaders("PUT", path), record, null, tier.timeoutMs, new SharedWrite(this.metrics));
    // A write is counted as stored when Webdis confirms it (SharedWrite).
    if (token == 0) this.metrics.sharedErrors[SharedOp.Write].increment(1);
  }
}

function requestHeaders(method: string, path: string): HeaderPair[] {
  return [new HeaderPair(":method", method), new HeaderPair(":path", path), new HeaderPair(":authority", "webdis")];
}

class SharedRead extends HttpCallHandler {
  // Null once the request is gone (its client left while the read was pending).
  private target: SharedReadTarget | null;

  constructor(private metrics: CacheMetrics, private key: ArrayBuffer, private startedMs: u64, private maxAgeMs: u64, target: SharedReadTarget, private rootContextId: u32) {
    super();
    this.target = target;
  }

  /** The request went first: the answer is still timed and counted (at the root), not served. */
  adoptiveContext(): u32 {
    this.target = null;
    return this.rootContextId;
  }

  onHttpCallResponse(response: HttpCallResponse): void {
    const m = this.metrics;
    const now = nowMillis();
    m.sharedReadMs.record(now > this.startedMs ? now - this.startedMs : 0);
    const target = this.target;
    if (response.failed || response.status() != 200) {
      m.sharedErrors[SharedOp.Read].increment(1);
      if (target !== null) target.answer(null, Reason.SharedTierError);
      return;
    }
    if (target === null) {
      // Nobody waits: an answer that is not RESP still counts as the tier's failure.
      if (respBulkString(response.body()) === null) m.sharedErrors[SharedOp.Read].increment(1);
      return;
    }
    const body = response.body();
    const value = respBulkString(body);
    if (value === null) {
      // Not a bulk string: Redis answered an error (e.g. down: "-ERR"), or Webdis something else.
      m.sharedErrors[SharedOp.Read].increment(1);
      target.answer(null, Reason.SharedTierError);
      return;
    }
    if (value.byteLength == 0) {
      target.answer(null, Reason.None); // absent: stays NotFound
      return;
    }
    const entry = decodeEntry(value);
    if (entry === null || memory.compare(changetype<usize>(entry.key), changetype<usize>(this.key), ENTRY_KEY_BYTES) != 0) {
      target.answer(null, Reason.UnreadableEntry);
      return;
    }
    if (entryExpired(entry, now, this.maxAgeMs)) {
      target.answer(null, Reason.Expired);
      return;
    }
    // No writer of ours sets a lifetime beyond MAX_TTL_MS: a record that claims one would be
    // served, and copied into the local slot, for as long as it says.
    if (entry.expiresAtMs - now > <u64>MAX_TTL_MS) {
      target.answer(null, Reason.UnreadableEntry);
      return;
    }
    target.answer(entry, Reason.None);
  }
}

class SharedWrite extends HttpCallHandler {
  constructor(private metrics: CacheMetrics) {
    super();
  }

  onHttpCallResponse(response: HttpCallResponse): void {
    const m = this.metrics;
    if (!response.failed && response.status() == 200 && isOk(response.body())) m.stores[Tier.Shared].increment(1);
    else m.sharedErrors[SharedOp.Write].increment(1);
  }
}

/** The RESP status `+OK\r\n`. */
function isOk(body: ArrayBuffer): bool {
  return body.byteLength == 5 && load<u32>(changetype<usize>(body)) == 0x0D4B4F2B && load<u8>(changetype<usize>(body), 4) == 0x0A;
}

/**
 * The bytes of a RESP bulk string (`$<n>\r\n<n bytes>\r\n`): a copy, an empty buffer for the null
 * bulk string (`$-1\r\n`, an absent key), or null for anything else.
 */
export function respBulkString(body: ArrayBuffer): ArrayBuffer | null {
  const base = changetype<usize>(body);
  const size = body.byteLength;
  if (size < 5 || load<u8>(base) != 0x24) return null; // $
  let i = 1;
  if (load<u8>(base + 1) == 0x2D) { // $-1\r\n
    return size == 5 && load<u8>(base + 2) == 0x31 && load<u8>(base + 3) == 0x0D && load<u8>(base + 4) == 0x0A ? new ArrayBuffer(0) : null;
  }
  let n: i64 = 0;
  while (i < size && i < 12) {
    const d = <i32>load<u8>(base + <usize>i) - 0x30;
    if (d < 0 || d > 9) break;
    n = n * 10 + <i64>d;
    i++;
  }
  if (i == 1 || i + 1 >= size || load<u8>(base + <usize>i) != 0x0D || load<u8>(base + <usize>i + 1) != 0x0A) return null;
  const start = i + 2;
  if (<i64>start + n + 2 != <i64>size) return null;
  const end = start + <i32>n;
  if (load<u8>(base + <usize>end) != 0x0D || load<u8>(base + <usize>end + 1) != 0x0A) return null;
  return body.slice(start, end);
}
