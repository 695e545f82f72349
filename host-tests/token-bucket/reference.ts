// Independent TypeScript readings of token-bucket's formats and arithmetic, written from their
// documentation (assembly/ratelimit/record.ts, bucket.ts, plugins/token-bucket/headers.ts), so
// tests can check the AssemblyScript code against them and tools can read or write slots.
import { createHash } from "node:crypto";

// ---- the slot record (assembly/ratelimit/record.ts)

export const RECORD_BYTES = 56;
export const SLOT_KEY_PREFIX = "aigw/token-bucket/";

export interface SlotRecordRef {
  /** 32 hex digits: the owner id's 16 bytes in order; all zero for a free slot. */
  owner: string;
  updatedMs: bigint;
  fullAtMs: bigint;
  /** Levels in 1/60,000 of a unit. */
  requests: bigint;
  tokens: bigint;
}

export function slotKey(slot: number): string {
  return `${SLOT_KEY_PREFIX}${slot}`;
}

export function encodeRecordRef(r: SlotRecordRef): Uint8Array {
  const out = new Uint8Array(RECORD_BYTES);
  const view = new DataView(out.buffer);
  view.setUint8(0, 1);
  out.set(Buffer.from(r.owner, "hex"), 8);
  view.setBigUint64(24, r.updatedMs, true);
  view.setBigUint64(32, r.fullAtMs, true);
  view.setBigInt64(40, r.requests, true);
  view.setBigInt64(48, r.tokens, true);
  return out;
}

export type SlotStateRef = "free" | "owned" | "malformed";

export function decodeRecordRef(bytes: Uint8Array): { state: SlotStateRef; record: SlotRecordRef | null } {
  if (bytes.length !== RECORD_BYTES || bytes[0] !== 1) return { state: "malformed", record: null };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const owner = Buffer.from(bytes.subarray(8, 24)).toString("hex");
  const record = {
    owner,
    updatedMs: view.getBigUint64(24, true),
    fullAtMs: view.getBigUint64(32, true),
    requests: view.getBigInt64(40, true),
    tokens: view.getBigInt64(48, true),
  };
  return { state: /^0+$/.test(owner) ? "free" : "owned", record };
}

// ---- bucket ids

export interface LimitRef {
  perMinute: bigint;
  burst: bigint;
}

/** Hex of the 16-byte bucket id (scope 1 tenant, 2 total). */
export function bucketIdRef(scope: 1 | 2, model: string, version: string, tenant: string, requests: LimitRef | null, tokens: LimitRef | null): string {
  const lp = (s: string) => {
    const b = Buffer.from(s, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return Buffer.concat([len, b]);
  };
  const u64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    return b;
  };
  const pre = Buffer.concat([
    Buffer.from("aigw-token-bucket"), Buffer.from([1, scope]), lp(model), lp(version), lp(tenant),
    u64(requests?.perMinute ?? 0n), u64(requests?.burst ?? 0n), u64(tokens?.perMinute ?? 0n), u64(tokens?.burst ?? 0n),
  ]);
  const id = createHash("sha256").update(pre).digest().subarray(0, 16);
  if (id.every((b) => b === 0)) id[0] = 1;
  return id.toString("hex");
}

// ---- arithmetic (assembly/ratelimit/bucket.ts)

export const UNIT = 60_000n;

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

export function refillRef(l: LimitRef, level: bigint, elapsedMs: bigint): bigint {
  const cap = l.burst * UNIT;
  if (level >= cap) return cap;
  if (elapsedMs <= 0n) return level;
  const v = level + elapsedMs * l.perMinute;
  return v > cap ? cap : v;
}

export function msUntilRef(l: LimitRef, level: bigint, target: bigint): bigint {
  if (level >= target) return 0n;
  if (target > l.burst * UNIT) return -1n;
  return ceilDiv(target - level, l.perMinute);
}

export function addRef(l: LimitRef, level: bigint, delta: bigint): bigint {
  const cap = l.burst * UNIT;
  const v = level + delta;
  return v > cap ? cap : v < -cap ? -cap : v;
}

// ---- header values (plugins/token-bucket/headers.ts): Go's time.Duration.String()

/** Go's Duration.String() of `ms` milliseconds (a transcription of its algorithm, for ms ≥ 0). */
export function goDuration(ms: number): string {
  if (ms <= 0) return "0s";
  const ns = BigInt(ms) * 1_000_000n;
  if (ns < 1_000_000_000n) {
    // Go prints sub-second durations in the largest unit below a second that keeps digits: ms here.
    return `${ms}ms`;
  }
  let u = ns;
  // fractional seconds: 9 digits, trailing zeros dropped
  const frac = (u % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  u /= 1_000_000_000n;
  let out = `${u % 60n}${frac ? "." + frac : ""}s`;
  u /= 60n;
  if (u > 0n) {
    out = `${u % 60n}m` + out;
    u /= 60n;
    if (u > 0n) out = `${u}h` + out;
  }
  return out;
}

// ---- usage (plugins/token-bucket/usage.ts), from a whole body

/** Tokens of the last usage in a JSON body or an SSE stream, read with JSON.parse; -1 if none. */
export function usageRef(body: string): number {
  const docs: unknown[] = [];
  const trimmed = body.trimStart();
  if (trimmed.startsWith("{")) {
    try {
      docs.push(JSON.parse(body));
    } catch {
      // not JSON
    }
  } else {
    for (const line of body.split(/\r\n|\r|\n/)) {
      if (!line.startsWith("data:")) continue;
      try {
        docs.push(JSON.parse(line.slice(5)));
      } catch {
        // [DONE] or another event
      }
    }
  }
  let tokens = -1;
  const visit = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach(visit);
      return;
    }
    if (v === null || typeof v !== "object") return;
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      if (k === "usage" && child !== null && typeof child === "object" && !Array.isArray(child)) {
        const u = child as Record<string, unknown>;
        // -1 absent (or null), -2 present but not a count: then the whole usage is not read.
        const n = (x: unknown) => (x === undefined || x === null ? -1 : typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 1e12 ? x : -2);
        const counts = ["total_tokens", "prompt_tokens", "input_tokens", "completion_tokens", "output_tokens"].map((k) => n(u[k]));
        if (counts.includes(-2)) continue;
        const [total, prompt, input, completion, output] = counts;
        const p = prompt >= 0 ? prompt : input;
        const c = completion >= 0 ? completion : output;
        const t = total >= 0 ? total : p >= 0 || c >= 0 ? Math.max(p, 0) + Math.max(c, 0) : -1;
        if (t >= 0) tokens = t;
      } else {
        visit(child);
      }
    }
  };
  docs.forEach(visit);
  return tokens;
}
