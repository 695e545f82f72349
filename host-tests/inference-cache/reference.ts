// Independent TypeScript readings of the inference-cache formats, written from their format
// comments (plugins/inference-cache/key.ts, assembly/cache/entry.ts) so tests can check the
// AssemblyScript code against code that shares nothing with it: a JSON reader that keeps
// duplicate members and number spellings, RFC 8785 serialisation, the canonical body, the key
// (node:crypto's SHA-256), the cache record, slots and Redis keys, and an SSE parser following
// the WHATWG rules.
import { createHash } from "node:crypto";

// ---- JSON with duplicates kept ----

export type JValue =
  | { t: "null" } | { t: "bool"; v: boolean } | { t: "num"; raw: string } | { t: "str"; v: string }
  | { t: "arr"; items: JValue[] } | { t: "obj"; members: Array<[string, JValue]> };

/** Parses JSON text (assumed valid: the tests feed it what JSON.parse accepts). */
export function parseRef(text: string): JValue {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i])) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): JValue => {
    ws();
    const c = text[i];
    let out: JValue;
    if (c === "{") {
      i++;
      const members: Array<[string, JValue]> = [];
      ws();
      if (text[i] === "}") i++;
      else {
        for (;;) {
          ws();
          const k = str();
          ws();
          i++; // :
          members.push([k, value()]);
          ws();
          if (text[i++] === "}") break;
        }
      }
      out = { t: "obj", members };
    } else if (c === "[") {
      i++;
      const items: JValue[] = [];
      ws();
      if (text[i] === "]") i++;
      else {
        for (;;) {
          items.push(value());
          ws();
          if (text[i++] === "]") break;
        }
      }
      out = { t: "arr", items };
    } else if (c === '"') out = { t: "str", v: str() };
    else if (text.startsWith("true", i)) {
      i += 4;
      out = { t: "bool", v: true };
    } else if (text.startsWith("false", i)) {
      i += 5;
      out = { t: "bool", v: false };
    } else if (text.startsWith("null", i)) {
      i += 4;
      out = { t: "null" };
    } else {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i))!;
      i += m[0].length;
      out = { t: "num", raw: m[0] };
    }
    ws();
    return out;
  };
  return value();
}

/** RFC 8785: members sorted by UTF-16 code units (stable for duplicates), numbers as Number::toString. */
export function jcs(v: JValue): string {
  switch (v.t) {
    case "null": return "null";
    case "bool": return v.v ? "true" : "false";
    // Number::toString of the double, except an integer literal: its exact digits (canonical.ts's
    // one departure from RFC 8785, the same within +-2^53).
    case "num": return /^-?\d+$/.test(v.raw) ? BigInt(v.raw).toString() : String(Number(v.raw));
    case "str": return JSON.stringify(v.v);
    case "arr": return `[${v.items.map(jcs).join(",")}]`;
    case "obj": return `{${sortMembers(v.members).map(([k, x]) => `${JSON.stringify(k)}:${jcs(x)}`).join(",")}}`;
  }
}

function sortMembers<T>(members: Array<[string, T]>): Array<[string, T]> {
  return [...members].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---- the key ----

export interface KeyRulesRef {
  drop: string[];
  /** name → default value as JSON text. */
  defaults: Record<string, string>;
}

export interface KeyRequestRef {
  method: string;
  /** `:authority`; the key takes its host (`hostOfRef`). */
  authority: string;
  path: string;
  model: string;
  version: string;
  tenant: string;
  shared: boolean;
}

/** The canonical body: see plugins/inference-cache/key.ts. */
export function canonicalBodyRef(body: JValue, rules: KeyRulesRef): string {
  if (body.t !== "obj") return jcs(body);
  const names = new Set(body.members.map(([k]) => k));
  const kept = body.members.filter(([k]) => k !== "stream" && !rules.drop.includes(k)).map(([k, v]) => [k, jcs(v)] as [string, string]);
  for (const [name, text] of Object.entries(rules.defaults)) {
    if (!names.has(name)) kept.push([name, jcs(parseRef(text))]);
  }
  return `{${sortMembers(kept).map(([k, x]) => `${JSON.stringify(k)}:${x}`).join(",")}}`;
}

const utf8 = (s: string) => Buffer.from(s, "utf8");
function lp(s: string): Buffer {
  const bytes = utf8(s);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/** The host of an authority: without a port (after a bracketed IPv6 literal's `]`), ASCII letters lower-cased. */
export function hostOfRef(authority: string): string {
  const m = /^(.*):[0-9]+$/s.exec(authority);
  // A bracketed IPv6 literal's port follows its ']'.
  const host = m !== null && (!authority.startsWith("[") || m[1].endsWith("]")) ? m[1] : authority;
  return host.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The bytes hashed into a key (`bodyText` null: no body). */
export function keyPreimage(req: KeyRequestRef, bodyText: string | null, rules: KeyRulesRef): Buffer {
  const parts = [
    utf8("aigw-inference-cache-key"), Buffer.from([2]),
    Buffer.from([req.shared ? 0 : 1]), lp(req.shared ? "" : req.tenant),
    lp(req.method), lp(hostOfRef(req.authority)), lp(req.path), lp(req.model), lp(req.version),
  ];
  if (bodyText === null) parts.push(Buffer.from([0]));
  else parts.push(Buffer.from([1]), utf8(canonicalBodyRef(parseRef(bodyText), rules)));
  return Buffer.concat(parts);
}

export function keyRef(req: KeyRequestRef, bodyText: string | null, rules: KeyRulesRef): string {
  return createHash("sha256").update(keyPreimage(req, bodyText, rules)).digest("hex");
}

// ---- the record ----

export interface EntryRef {
  key: string; // 64 hex digits
  storedAt: bigint;
  expiresAt: bigint;
  status: number;
  kind: 1 | 2;
  contentType: string;
  body: Uint8Array;
}

export function encodeEntryRef(e: EntryRef): Uint8Array {
  const ct = Buffer.from(e.contentType, "latin1");
  const out = Buffer.alloc(64 + ct.length + e.body.length);
  out.write("AIGC", 0, "latin1");
  out.writeUInt8(1, 4);
  out.writeUInt8(e.kind, 5);
  out.writeUInt16LE(e.status, 6);
  Buffer.from(e.key, "hex").copy(out, 8);
  out.writeBigUInt64LE(e.storedAt, 40);
  out.writeBigUInt64LE(e.expiresAt, 48);
  out.writeUInt16LE(ct.length, 56);
  out.writeUInt16LE(0, 58);
  out.writeUInt32LE(e.body.length, 60);
  ct.copy(out, 64);
  out.set(e.body, 64 + ct.length);
  return new Uint8Array(out);
}

export function decodeEntryRef(bytes: Uint8Array): EntryRef | null {
  if (bytes.length < 64) return null;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.toString("latin1", 0, 4) !== "AIGC" || b.readUInt8(4) !== 1) return null;
  const kind = b.readUInt8(5);
  const status = b.readUInt16LE(6);
  const storedAt = b.readBigUInt64LE(40);
  const expiresAt = b.readBigUInt64LE(48);
  const ctLen = b.readUInt16LE(56);
  const bodyLen = b.readUInt32LE(60);
  if ((kind !== 1 && kind !== 2) || status < 100 || status > 599 || expiresAt < storedAt) return null;
  if (b.readUInt16LE(58) !== 0 || ctLen > 255 || 64 + ctLen + bodyLen !== b.length) return null;
  const ct = b.subarray(64, 64 + ctLen);
  if (![...ct].every((c) => (c >= 0x20 && c <= 0x7e) || c === 0x09)) return null;
  return {
    key: b.toString("hex", 8, 40), storedAt, expiresAt, status, kind, contentType: ct.toString("latin1"),
    body: new Uint8Array(b.subarray(64 + ctLen)),
  };
}

export function slotOfRef(keyHex: string, slots: number): number {
  return Number(BigInt(`0x${keyHex.slice(0, 8)}`) % BigInt(slots));
}

export const slotKeyRef = (slot: number) => `aigw/inference-cache/${slot}`;

export function redisKeyRef(prefix: string, tenant: string, shared: boolean, hex: string): string {
  const segment = shared ? "shared" : tenant === "" ? "_" : tenant.slice(0, 128).replace(/[^A-Za-z0-9._-]/g, "_");
  return `${prefix}${segment}:${hex}`;
}

// ---- server-sent events ----

export interface SseEventRef {
  type: string;
  data: string;
}

/** The WHATWG event-stream parsing algorithm, over the whole text at once. */
export function parseSseRef(text: string): SseEventRef[] {
  const events: SseEventRef[] = [];
  if (text.startsWith("\ufeff")) text = text.slice(1);
  const lines = text.split(/\r\n|\r|\n/);
  lines.pop(); // the unterminated rest (or "" after a final line break)
  let data: string[] | null = null;
  let type = "";
  for (const line of lines) {
    if (line === "") {
      if (data !== null) events.push({ type, data: data.join("\n") });
      data = null;
      type = "";
      continue;
    }
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") (data ??= []).push(value);
    else if (field === "event") type = value;
  }
  return events;
}
