// Random inputs for the inference-cache tests (seeded, host-tests/support-prng.ts): request bodies
// shaped like OpenAI requests with unicode, escapes and many number spellings, and respellings
// of a document that must keep its key (member order, whitespace, number and string spelling,
// dropped fields, explicit defaults, `stream`).
import { parseRef, type JValue } from "./reference";

export type Rand = () => number;

export const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
export const int = (rand: Rand, n: number) => Math.floor(rand() * n);

const ws = (rand: Rand) => pick(rand, ["", "", "", " ", "\n  ", "\t", "\r\n"]);

/** A string of letters, unicode (BMP and astral), controls and JSON specials. */
export function randomString(rand: Rand, maxLen = 8): string {
  let s = "";
  for (let i = int(rand, maxLen + 1); i > 0; i--) {
    const r = rand();
    if (r < 0.55) s += String.fromCharCode(0x61 + int(rand, 26));
    else if (r < 0.7) s += pick(rand, ["é", "€", "😀", "\ufb33", "Ω", "\u0080", "\uffff", "\ue000", "𝄞", "中"]);
    else if (r < 0.85) s += pick(rand, ['"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\u0000", "\u001f", "\u007f"]);
    else s += String.fromCharCode(0x20 + int(rand, 0x5f));
  }
  return s;
}

/** JSON text of `s` with random escaping (each character plain, short-escaped or \u-escaped). */
export function spellString(rand: Rand, s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const plain = JSON.stringify(ch).slice(1, -1);
    const r = rand();
    if (r < 0.6 || (plain.startsWith("\\") && plain.length === 2 && r < 0.8)) {
      out += plain;
    } else if (cp > 0xffff) {
      out += [...ch.split("")].map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, "0")}`).join("");
    } else {
      const hex = cp.toString(16).padStart(4, "0");
      out += `\\u${rand() < 0.5 ? hex : hex.toUpperCase()}`;
    }
  }
  return `${out}"`;
}

/** A finite number as one of its JSON spellings. */
export function randomNumber(rand: Rand): string {
  let x = pick(rand, [0, -0, 1, -1, 0.5, 2, 0.1, 1e21, 1e-7, 123456789, 2 ** 53 + 2, 1.7976931348623157e308, 5e-324, 0.7, 100])
    * (rand() < 0.6 ? 1 : rand() * 1000);
  if (!Number.isFinite(x)) x = 1;
  return spellNumber(rand, String(x));
}

const INTEGER_LITERAL = /^-?\d+$/;

/**
 * Another spelling that keeps the key (`1`, `1.0`, `1e0`, `10e-1`, `1.00E+0`, ...): the same
 * double, except beyond 2^53, where an integer literal is keyed by its exact digits (canonical.ts)
 * and has no other spelling, and a double has none as an integer literal.
 */
export function spellNumber(rand: Rand, raw: string): string {
  const x = Number(raw);
  const big = Math.abs(x) > 2 ** 53;
  if (big && INTEGER_LITERAL.test(raw)) return raw;
  const forms = [String(x), x.toExponential(), x.toPrecision(17), x.toExponential(16).replace("e", "E")];
  if (Number.isInteger(x) && Math.abs(x) < 1e15) forms.push(`${x}.0`, `${x}e0`, `${x}0e-1`, `${x}.000E+0`);
  const valid = forms.filter((f) => /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(f) && Number(f) === x && !(big && INTEGER_LITERAL.test(f)));
  return pick(rand, valid.length ? valid : [x.toExponential()]);
}

/** A random JSON value (text), nested to at most `depth` more levels. */
export function randomValue(rand: Rand, depth: number): string {
  const r = rand();
  if (depth <= 0 || r < 0.5) {
    return pick(rand, [() => spellString(rand, randomString(rand)), () => randomNumber(rand), () => pick(rand, ["true", "false", "null"])])();
  }
  if (r < 0.75) return `[${ws(rand)}${Array.from({ length: int(rand, 4) }, () => randomValue(rand, depth - 1)).join(`${ws(rand)},${ws(rand)}`)}${ws(rand)}]`;
  const n = int(rand, 5);
  return `{${ws(rand)}${Array.from({ length: n }, () => `${spellString(rand, randomString(rand, 4))}${ws(rand)}:${ws(rand)}${randomValue(rand, depth - 1)}`).join(",")}${ws(rand)}}`;
}

/** Top-level names that matter to the key: dropped, defaulted, `stream`, and ordinary ones. */
export const SPECIAL_NAMES = [
  "model", "messages", "temperature", "top_p", "n", "presence_penalty", "frequency_penalty", "stream",
  "user", "metadata", "stream_options", "request_id", "safety_identifier", "prompt_cache_key", "seed", "tools",
  "max_tokens", "b", "x",
];

/** A request body: mostly an object of special and random names (sometimes duplicated), else any value. */
export function randomBody(rand: Rand): string {
  if (rand() < 0.08) return randomValue(rand, 3);
  const n = int(rand, 10);
  const members: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = rand() < 0.7 ? pick(rand, SPECIAL_NAMES) : randomString(rand, 5);
    members.push(`${spellString(rand, name)}${ws(rand)}:${ws(rand)}${randomValue(rand, 3)}`);
  }
  if (rand() < 0.1 && members.length > 0) members.push(members[int(rand, members.length)]); // a duplicate
  return `${ws(rand)}{${ws(rand)}${members.join(`${ws(rand)},${ws(rand)}`)}${ws(rand)}}${ws(rand)}`;
}

/**
 * Writes `v` again with shuffled member order (duplicates keep their order among themselves),
 * other whitespace and other number and string spellings.
 */
export function respell(rand: Rand, v: JValue): string {
  switch (v.t) {
    case "null": return "null";
    case "bool": return v.v ? "true" : "false";
    case "num": return spellNumber(rand, v.raw);
    case "str": return spellString(rand, v.v);
    case "arr": return `[${ws(rand)}${v.items.map((x) => respell(rand, x)).join(`${ws(rand)},${ws(rand)}`)}${ws(rand)}]`;
    case "obj": {
      const rank = new Map<string, number>();
      for (const [k] of v.members) if (!rank.has(k)) rank.set(k, rand());
      const order = [...v.members].sort(([a], [b]) => rank.get(a)! - rank.get(b)!); // stable
      return `{${ws(rand)}${order.map(([k, x]) => `${spellString(rand, k)}${ws(rand)}:${ws(rand)}${respell(rand, x)}`).join(`${ws(rand)},${ws(rand)}`)}${ws(rand)}}`;
    }
  }
}

/**
 * A body that means the same as `v` under `drop`/`defaults`: respelled, with dropped fields and
 * `stream` added or changed, and absent defaults made explicit (with another spelling).
 */
export function equivalentBody(rand: Rand, v: JValue, drop: string[], defaults: Record<string, string>): string {
  if (v.t !== "obj") return respell(rand, v);
  const names = new Set(v.members.map(([k]) => k));
  // Drops and defaults never share a name (config.ts), and `stream` is neither, so removing or
  // adding these members leaves every default's presence as it was.
  const members = v.members.filter(([k]) => !(drop.includes(k) || k === "stream") || rand() < 0.5);
  for (const name of [...drop, "stream"]) {
    if (rand() < 0.3) members.push([name, parseRef(randomValue(rand, 2))]);
  }
  for (const [name, text] of Object.entries(defaults)) {
    if (!names.has(name) && rand() < 0.5) members.push([name, parseRef(text)]);
  }
  return respell(rand, { t: "obj", members });
}
