// assembly/json, through build/pure/json.wasm (host-tests/pure/json-entry.ts). The references
// are JSON.parse (made RFC-strict: fatal UTF-8 decoding, plus the three rules where our reader is
// deliberately stricter, see `reference`), Number()/String() for numbers, JSON.stringify for
// string escaping, and an independent TypeScript RFC 8785 implementation (`jcs`) written here.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadPure, PureModule, utf16 } from "./pure/pure-module";
import { prng } from "./support-prng";

let mod: PureModule;
beforeAll(async () => {
  mod = await loadPure("json");
});
afterEach(() => {
  expect(mod.aborts).toEqual([]);
});

// ---------------------------------------------------------------------------------------------
// Helpers

const enc = (s: string) => new TextEncoder().encode(s);
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Bytes from text pieces and raw byte arrays: b('["', [0xff], '"]'). */
function b(...parts: Array<string | number[]>): Uint8Array {
  const chunks = parts.map((p) => (typeof p === "string" ? enc(p) : Uint8Array.from(p)));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

type Input = string | Uint8Array;
const bytesOf = (x: Input) => (typeof x === "string" ? enc(x) : x);
const show = (x: Input) => (typeof x === "string" ? x : Buffer.from(x).toString("latin1")).slice(0, 60);

type Check = { ok: true } | { ok: false; error: string; offset: number };
const check = (x: Input, maxDepth = -1, maxBytes = -1, maxValues = -1): Check =>
  mod.json<Check>("check", bytesOf(x), maxDepth, maxBytes, maxValues);
const dump = (x: Input): unknown => mod.json<unknown[]>("dump", bytesOf(x), -1, -1, -1);
const canonical = (x: Input, maxDepth = -1): string => mod.text("canonical", bytesOf(x), maxDepth);
const consistency = (x: Input): string => mod.text("consistency", bytesOf(x));

/** -0 becomes 0 (our dump writes numbers as JSON, which has no -0). */
function normalise(v: unknown): unknown {
  if (typeof v === "number") return Object.is(v, -0) ? 0 : v;
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
  return v;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// Tokens of a text JSON.parse accepted: strings first, so nothing inside a string is matched.
const TOKEN = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[[\]{}]/g;

/**
 * What our reader must do with `bytes`: JSON.parse over strictly decoded UTF-8 (a byte order
 * mark is kept, so it is rejected), and also reject what we reject on purpose: lone surrogate
 * escapes, numbers beyond the double range, nesting deeper than 64. These are checked on the
 * tokens, not on JSON.parse's result, which drops overwritten duplicate members.
 */
function reference(bytes: Uint8Array): { ok: true; value: unknown; text: string } | { ok: false } {
  let text: string;
  let value: unknown;
  try {
    text = strictDecoder.decode(bytes);
    value = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  let depth = 0;
  for (const [tok] of text.matchAll(TOKEN)) {
    if (tok === "[" || tok === "{") {
      if (++depth > 64) return { ok: false };
    } else if (tok === "]" || tok === "}") depth--;
    else if (tok.startsWith('"')) {
      if (LONE_SURROGATE.test(JSON.parse(tok) as string)) return { ok: false };
    } else if (!Number.isFinite(Number(tok))) return { ok: false };
  }
  return { ok: true, value, text };
}

// An independent RFC 8785 implementation over a duplicate-preserving parse of valid JSON text.
type Ref = { t: "lit"; v: string } | { t: "num"; raw: string } | { t: "str"; s: string } | { t: "arr"; items: Ref[] } | { t: "obj"; members: Array<[string, Ref]> };

function refParse(text: string): Ref {
  const tokens = [...text.matchAll(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|[[\]{}]/g)].map((m) => m[0]);
  let i = 0;
  const value = (): Ref => {
    const tok = tokens[i++];
    if (tok === "[") {
      const items: Ref[] = [];
      while (tokens[i] !== "]") items.push(value());
      i++;
      return { t: "arr", items };
    }
    if (tok === "{") {
      const members: Array<[string, Ref]> = [];
      while (tokens[i] !== "}") {
        const key = JSON.parse(tokens[i++]) as string;
        members.push([key, value()]);
      }
      i++;
      return { t: "obj", members };
    }
    if (tok.startsWith('"')) return { t: "str", s: JSON.parse(tok) as string };
    if (tok === "true" || tok === "false" || tok === "null") return { t: "lit", v: tok };
    return { t: "num", raw: tok };
  };
  return value();
}

function jcs(v: Ref): string {
  switch (v.t) {
    case "lit": return v.v;
    // Number::toString (String(-0) is "0"); an integer literal keeps its exact digits, canonical.ts's
    // one departure, which agrees with Number::toString within +-2^53.
    case "num": return /^-?\d+$/.test(v.raw) ? BigInt(v.raw).toString() : String(Number(v.raw));
    case "str": return JSON.stringify(v.s);
    case "arr": return `[${v.items.map(jcs).join(",")}]`;
    case "obj": {
      // Array.prototype.sort is stable; JS string comparison is by UTF-16 code units.
      const sorted = [...v.members].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0));
      return `{${sorted.map(([k, x]) => `${JSON.stringify(k)}:${jcs(x)}`).join(",")}}`;
    }
  }
}
const refJcs = (text: string) => jcs(refParse(text));

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const int = (rand: () => number, n: number) => Math.floor(rand() * n);

/** A typical OpenAI chat completion request of about 2 KB. */
const CHAT_REQUEST = JSON.stringify({
  model: "gpt-4o-mini",
  messages: [
    { role: "system", content: "You are a concise assistant for a logistics company. Answer in plain English, cite the shipment id when you refer to one, and never invent tracking numbers. If the user asks for something outside logistics, say so politely. When a delay is longer than 24 hours, suggest contacting the carrier's dispatch desk and offer to draft the message. Use metric units and 24-hour times (Europe/Amsterdam)." },
    { role: "user", content: "Good morning! Quick one first: what does status code CUS-HOLD mean on our dashboard?" },
    { role: "assistant", content: "Good morning. CUS-HOLD means customs has put the shipment on hold, usually for a document check; it clears once the broker uploads the missing paperwork." },
    { role: "user", content: "Where is shipment SH-20931? It left Rotterdam on Monday and was due in Hamburg yesterday.\nThe customer is asking for an update — they need it before Friday." },
    { role: "assistant", content: "Shipment SH-20931 cleared customs in Rotterdam on Tuesday and is on the A1 towards Hamburg. The carrier reports a delay of about 20 hours because of a road closure near Bremen; the new estimate is Thursday 14:00." },
    { role: "user", content: "Thanks. Can you draft a short message to the customer explaining the delay, and suggest a 5% discount on the next order as an apology? Keep it under 80 words and sign it as \"Operations team\"." },
  ],
  temperature: 0.7,
  top_p: 1,
  max_tokens: 512,
  stream: false,
  user: "tenant-42/user-1089",
  tools: [{
    type: "function",
    function: {
      name: "get_shipment_status",
      description: "Returns the current status, position and estimated arrival of a shipment.",
      parameters: { type: "object", properties: { shipment_id: { type: "string", description: "Shipment id, e.g. SH-20931" }, include_history: { type: "boolean" } }, required: ["shipment_id"] },
    },
  }],
  tool_choice: "auto",
  stop: ["\n\nUser:", "###"],
  response_format: { type: "text" },
  seed: 1234,
  n: 1,
});

// ---------------------------------------------------------------------------------------------
// Cases (named in the style of JSONTestSuite: y_ must parse, n_ must fail, i_ implementation-defined
// with our decision in the name).

const VALID: Array<[string, Input]> = [
  ["y_array_empty", "[]"],
  ["y_object_empty", "{}"],
  ["y_array_nested_empty", "[[],[[]],{}]"],
  ["y_whitespace_all_four", " \t\n\r[ 1 ,\n\t2 ] \r\n"],
  ["y_string_empty", '[""]'],
  ["y_string_escaped_nul", '["\\u0000"]'],
  ["y_string_all_short_escapes", '["\\"\\\\\\/\\b\\f\\n\\r\\t"]'],
  ["y_string_unicode_escapes", '["\\u00e9\\u20AC\\ud83d\\ude00\\uD834\\uDd1E"]'],
  ["y_string_raw_utf8", '["é€😀 ok"]'],
  ["y_string_escaped_noncharacter", '["\\uffff\\ufffe"]'],
  ["y_string_raw_noncharacter_and_max", b('["', [0xef, 0xbf, 0xbf, 0xf4, 0x8f, 0xbf, 0xbf], '"]')],
  ["y_string_u2028_u2029", '["\u2028\u2029"]'],
  ["y_string_del_and_high_ascii", '["\u007f~"]'],
  ["y_number_zero", "[0]"],
  ["y_number_minus_zero", "[-0]"],
  ["y_number_minus_zero_forms", "[-0.0e-0, 0e+5, 0.000]"],
  ["y_number_exponents", "[1E22, 1e-2, 1E+2, 1e0, 12e-1]"],
  ["y_number_underflow_to_zero", "[123.456e-789]"],
  ["y_number_huge_exponents_of_zero_and_tiny", "[0e999999999999999999999, -0E+99999999999, 1e-999999999999999999999]"],
  ["y_number_max_and_min", "[1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 2.4703282292062328e-324]"],
  ["y_number_long_integer", "[123456789012345678901234567890]"],
  ["y_number_long_integer_part_small_value", `[1${"0".repeat(400)}e-395]`],
  ["y_number_many_fraction_digits", `[0.${"3".repeat(900)}]`],
  ["y_literals", "[true,false,null]"],
  ["y_top_level_true", "true"],
  ["y_top_level_null", " null "],
  ["y_top_level_number", "-12.5e3"],
  ["y_top_level_string", '"x"'],
  ["y_object_nested", '{"a":{"b":{"c":[1,{"d":null}]}}}'],
  ["y_object_empty_key", '{"":0}'],
  ["y_object_unicode_keys", '{"é":1,"😀":2,"\\u00e9x":3}'],
  ["y_object_duplicated_key", '{"a":1,"a":2}'],
  ["y_object_duplicated_key_escaped", '{"\\u0061":1,"a":{"x":[1]},"b":0}'],
  ["y_nesting_64", "[".repeat(64) + "]".repeat(64)],
  ["y_array_of_100", `[${Array.from({ length: 100 }, (_, i) => i * 7 - 300).join(",")}]`],
  ["y_chat_request", CHAT_REQUEST],
];

const INVALID: Array<[string, Input, string, number]> = [
  ["n_empty", "", "unexpected end of input", 0],
  ["n_only_whitespace", "   ", "unexpected end of input", 3],
  ["n_array_unclosed", "[", "unexpected end of input", 1],
  ["n_array_close_only", "]", "expected value", 0],
  ["n_array_trailing_comma", "[1,]", "expected value", 3],
  ["n_array_leading_comma", "[,1]", "expected value", 1],
  ["n_array_double_comma", "[1,,2]", "expected value", 3],
  ["n_array_missing_comma", "[1 2]", "expected ',' or ']' after array item", 3],
  ["n_array_unclosed_after_item", "[1", "unexpected end of input", 2],
  ["n_object_trailing_comma", '{"a":1,}', "expected string key", 7],
  ["n_object_comma_only", "{,}", "expected string key", 1],
  ["n_object_missing_colon", '{"a" 1}', "expected ':' after object key", 5],
  ["n_object_missing_comma", '{"a":1 "b":2}', "expected ',' or '}' after object member", 7],
  ["n_object_unquoted_key", "{a:1}", "expected string key", 1],
  ["n_object_single_quoted_key", "{'a':1}", "expected string key", 1],
  ["n_object_number_key", "{1:1}", "expected string key", 1],
  ["n_object_missing_value", '{"a":}', "expected value", 5],
  ["n_object_unclosed_after_key", '{"a"', "unexpected end of input", 4],
  ["n_object_unclosed_after_value", '{"a":1', "unexpected end of input", 6],
  ["n_object_extra_close", '{"a":1}}', "unexpected data after value", 7],
  ["n_trailing_garbage", "[1]x", "unexpected data after value", 3],
  ["n_two_values", '"a" "b"', "unexpected data after value", 4],
  ["n_number_leading_zero", "[01]", "leading zero in number", 2],
  ["n_number_minus_leading_zero", "[-01]", "leading zero in number", 3],
  ["n_number_double_zero", "[00]", "leading zero in number", 2],
  ["n_number_starts_with_dot", "[.5]", "expected value", 1],
  ["n_number_ends_with_dot", "[1.]", "expected digit", 3],
  ["n_number_dot_before_exponent", "[1.e5]", "expected digit", 3],
  ["n_number_plus", "[+1]", "expected value", 1],
  ["n_number_minus_alone", "[-]", "expected digit", 2],
  ["n_number_minus_at_end", "-", "unexpected end of input", 1],
  ["n_number_empty_exponent", "[1e]", "expected digit", 3],
  ["n_number_empty_signed_exponent", "[1e+]", "expected digit", 4],
  ["n_number_exponent_at_end", "1E", "unexpected end of input", 2],
  ["n_number_hex", "[0x10]", "expected ',' or ']' after array item", 2],
  ["n_number_infinity", "[Infinity]", "expected value", 1],
  ["n_number_minus_infinity", "[-Infinity]", "expected digit", 2],
  ["n_number_nan", "[NaN]", "expected value", 1],
  ["i_number_huge_exponent_rejected", "[1e400]", "number out of range", 1],
  ["i_number_negative_overflow_rejected", "[-1e400]", "number out of range", 1],
  ["i_number_just_past_max_rejected", "[1.7976931348623159e308]", "number out of range", 1],
  ["i_number_long_integer_overflow_rejected", `[${"9".repeat(310)}]`, "number out of range", 1],
  ["n_literal_truncated", "[tru]", "invalid literal", 1],
  ["n_literal_capitalised", "[True]", "expected value", 1],
  ["n_literal_null_truncated", "[nul]", "invalid literal", 1],
  ["n_literal_extra_letter", "[nulll]", "expected ',' or ']' after array item", 5],
  ["n_string_unterminated", '["a]', "unterminated string", 1],
  ["n_string_single_quotes", "['a']", "expected value", 1],
  ["n_string_bad_escape", '["\\x"]', "invalid escape", 2],
  ["n_string_escaped_apostrophe", "[\"\\'\"]", "invalid escape", 2],
  ["n_string_short_unicode_escape", '["\\u00"]', "invalid \\u escape", 2],
  ["n_string_bad_unicode_escape", '["\\uqqqq"]', "invalid \\u escape", 2],
  ["n_string_unicode_escape_at_end", '"\\u12', "invalid \\u escape", 1],
  ["n_string_backslash_at_end", '"\\', "unterminated string", 0],
  ["i_string_lone_high_surrogate_rejected", '["\\ud800"]', "lone surrogate escape", 2],
  ["i_string_lone_low_surrogate_rejected", '["\\udc00"]', "lone surrogate escape", 2],
  ["i_string_high_then_letter_rejected", '["\\ud800\\u0041"]', "lone surrogate escape", 2],
  ["i_string_high_then_escape_rejected", '["\\ud800\\n"]', "lone surrogate escape", 2],
  ["i_string_reversed_pair_rejected", '["\\udc00\\ud800"]', "lone surrogate escape", 2],
  ["i_string_two_highs_rejected", '["\\ud800\\ud800"]', "lone surrogate escape", 2],
  ["i_string_high_then_raw_low_rejected", '["\\ud83d😀"]', "lone surrogate escape", 2],
  ["n_string_raw_tab", '["\t"]', "control character in string", 2],
  ["n_string_raw_newline", '["a\nb"]', "control character in string", 3],
  ["n_string_raw_nul", b('["', [0], '"]'), "control character in string", 2],
  ["n_utf8_invalid_byte", b('["', [0xff], '"]'), "invalid UTF-8", 2],
  ["n_utf8_lone_continuation", b('["', [0x80], '"]'), "invalid UTF-8", 2],
  ["n_utf8_overlong_2", b('["', [0xc0, 0x80], '"]'), "invalid UTF-8", 2],
  ["n_utf8_overlong_2_c1", b('["', [0xc1, 0xbf], '"]'), "invalid UTF-8", 2],
  ["n_utf8_overlong_3", b('["', [0xe0, 0x80, 0xaf], '"]'), "invalid UTF-8", 2],
  ["n_utf8_overlong_4", b('["', [0xf0, 0x80, 0x80, 0xaf], '"]'), "invalid UTF-8", 2],
  ["n_utf8_encoded_surrogate", b('["', [0xed, 0xa0, 0x80], '"]'), "invalid UTF-8", 2],
  ["n_utf8_encoded_surrogate_pair", b('["', [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], '"]'), "invalid UTF-8", 2],
  ["n_utf8_above_max", b('["', [0xf4, 0x90, 0x80, 0x80], '"]'), "invalid UTF-8", 2],
  ["n_utf8_f5", b('["', [0xf5, 0x80, 0x80, 0x80], '"]'), "invalid UTF-8", 2],
  ["n_utf8_truncated_before_quote", b('["', [0xe2, 0x82], '"]'), "invalid UTF-8", 2],
  ["n_utf8_truncated_at_end", b('"', [0xe2, 0x82]), "invalid UTF-8", 1],
  ["n_utf8_after_ascii", b('["a', [0xc3], '"]'), "invalid UTF-8", 3],
  ["n_utf8_in_key", b('{"', [0xfe], '":1}'), "invalid UTF-8", 2],
  ["n_utf8_outside_string", b("[", [0xc3, 0xa9], "]"), "expected value", 1],
  ["i_bom_rejected", b([0xef, 0xbb, 0xbf], "[]"), "expected value", 0],
  ["n_nul_as_value", b("[", [0], "]"), "expected value", 1],
  ["n_form_feed_is_not_whitespace", "[\f]", "expected value", 1],
  ["n_nbsp_is_not_whitespace", "[\u00a0]", "expected value", 1],
  ["n_comment_before", "/**/[]", "expected value", 0],
  ["n_comment_after", "[]//", "unexpected data after value", 2],
  ["n_nul_after_value", b("[1]", [0]), "unexpected data after value", 3],
  ["n_nesting_65", "[".repeat(65) + "]".repeat(65), "nesting too deep", 64],
  ["n_object_nesting_65", '{"a":'.repeat(65) + "1" + "}".repeat(65), "nesting too deep", 5 * 64],
];

// ---------------------------------------------------------------------------------------------

describe("json reader", () => {
  describe("valid documents", () => {
    it.each(VALID)("accepts %s", (_name, input) => {
      const bytes = bytesOf(input);
      const ref = reference(bytes);
      expect(ref.ok).toBe(true);
      expect(check(bytes)).toEqual({ ok: true });
      expect(dump(bytes)).toEqual([true, normalise((ref as { value: unknown }).value)]);
      expect(consistency(bytes)).toBe("");
    });

    it.each(VALID.filter(([name]) => !name.includes("duplicated")))("gives every value of %s a span that parses to it", (_name, input) => {
      const bytes = bytesOf(input);
      const flat = mod.json<number[]>("spans", bytes);
      const kindOf = (v: unknown) =>
        v === null ? 0 : typeof v === "boolean" ? 1 : typeof v === "number" ? 2 : typeof v === "string" ? 3 : Array.isArray(v) ? 4 : 5;
      const preorder: unknown[] = [];
      const walk = (v: unknown) => {
        preorder.push(v);
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === "object") Object.values(v).forEach(walk);
      };
      walk(JSON.parse(strictDecoder.decode(bytes)));
      expect(flat.length).toBe(preorder.length * 3);
      preorder.forEach((v, i) => {
        const [kind, start, end] = flat.slice(3 * i, 3 * i + 3);
        expect(kind).toBe(kindOf(v));
        expect(JSON.parse(strictDecoder.decode(bytes.slice(start, end)))).toEqual(v);
      });
    });
  });

  describe("invalid documents", () => {
    it.each(INVALID)("rejects %s", (_name, input, error, offset) => {
      const bytes = bytesOf(input);
      expect(reference(bytes).ok).toBe(false);
      expect(check(bytes)).toEqual({ ok: false, error, offset });
      expect(dump(bytes)).toEqual([false, error, offset]);
    });

    it("documents where it is stricter than JSON.parse", () => {
      // JSON.parse accepts these; see the i_ cases above and the comment in assembly/json/reader.ts.
      for (const text of ['"\\ud800"', "1e400", '["\\udc00"]']) {
        expect(() => JSON.parse(text)).not.toThrow();
        expect(check(text).ok).toBe(false);
      }
    });
  });

  describe("accessors", () => {
    type Described = {
      found: boolean; kind: number; start: number; end: number; length: number; raw: string;
      isNull: boolean; isBool: boolean; isNumber: boolean; isString: boolean; isArray: boolean; isObject: boolean;
      bool: boolean; string: string; number: number | null; isInteger: boolean; integer: string; keys: string[];
    };
    const describeAt = (doc: string, path: Array<string | number>) => mod.json<Described>("describe", doc, JSON.stringify(path));

    it("navigates objects by key and arrays by index", () => {
      const doc = '{"a": [10, {"b": "x"}], "c": true}';
      expect(describeAt(doc, ["a", 1, "b"])).toMatchObject({ found: true, isString: true, string: "x", raw: '"x"', start: 17, end: 20 });
      expect(describeAt(doc, ["a", 0])).toMatchObject({ found: true, number: 10, isInteger: true, integer: "10" });
      expect(describeAt(doc, ["c"])).toMatchObject({ found: true, isBool: true, bool: true });
      expect(describeAt(doc, [])).toMatchObject({ found: true, isObject: true, length: 2, keys: ["a", "c"] });
      expect(describeAt(doc, ["a"])).toMatchObject({ isArray: true, length: 2, keys: [] });
    });

    it.each([
      ["a missing key", ["zz"]],
      ["an index past the end", ["a", 2]],
      ["a negative index", ["a", -1]],
      ["a key on an array", ["a", "b"]],
      ["an index on an object", [0]],
      ["a key on a string", ["a", 1, "b", "x"]],
    ])("returns null for %s", (_name, path) => {
      expect(describeAt('{"a": [10, {"b": "x"}]}', path as Array<string | number>)).toEqual({ found: false });
    });

    it("keeps every duplicate member in order and lets get() see the last", () => {
      const doc = '{"model":"a","n":1,"model":"b","\\u006dodel":"c"}';
      expect(describeAt(doc, [])).toMatchObject({ length: 4, keys: ["model", "n", "model", "model"] });
      expect(describeAt(doc, ["model"])).toMatchObject({ string: "c", start: doc.lastIndexOf('"c"'), end: doc.lastIndexOf('"c"') + 3 });
      expect(consistency(doc)).toBe("");
    });

    it("decodes strings, escapes and UTF-8 alike", () => {
      expect(describeAt('["a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"]', [0]).string).toBe('a"b\\c/d\b\f\n\r\t');
      expect(describeAt('["\\u00e9\\u20ac\\ud83d\\ude00é€😀"]', [0]).string).toBe("é€😀é€😀");
      expect(describeAt('["\\u0000x"]', [0]).string).toBe("\u0000x");
    });

    it("gives neutral answers for the wrong kind", () => {
      expect(describeAt('{"s":"x"}', ["s"])).toMatchObject({ bool: false, number: null, isInteger: false, integer: "0", length: 0 });
      expect(describeAt("[1]", [0])).toMatchObject({ string: "", bool: false, length: 0 });
      expect(describeAt("[null]", [0])).toMatchObject({ isNull: true, string: "", number: null });
      expect(describeAt("[false]", [0])).toMatchObject({ isBool: true, bool: false });
    });

    it.each([
      ["0", true, "0"],
      ["-0", true, "0"],
      ["7", true, "7"],
      ["1.0", true, "1"],
      ["1.50e1", true, "15"],
      ["1e3", true, "1000"],
      ["100e-2", true, "1"],
      ["0.000", true, "0"],
      ["-42", true, "-42"],
      ["1.5", false, "0"],
      ["1e-2", false, "0"],
      ["9007199254740993", true, "9007199254740993"],
      ["9223372036854775807", true, "9223372036854775807"],
      ["9223372036854775808", false, "0"],
      ["-9223372036854775808", true, "-9223372036854775808"],
      ["-9223372036854775809", false, "0"],
      ["92233720368547758070e-1", true, "9223372036854775807"],
      ["1e18", true, "1000000000000000000"],
      ["1e19", false, "0"],
      ["12345678901234567890e-1", true, "1234567890123456789"],
      [`0.${"0".repeat(50)}`, true, "0"],
      ["1e-400", false, "0"],
      ["0e999999999999999999999", true, "0"],
      ["-0.0e-999999999999999999999", true, "0"],
      ["1e-999999999999999999999", false, "0"],
    ])("reads %s as integer: %s (%s)", (text, isInteger, integer) => {
      expect(describeAt(`[${text}]`, [0])).toMatchObject({ isInteger, integer });
    });

    it("gives byte spans that splice: rewriting the model in place", () => {
      const body = '{ "model" : "gpt-4o@canary", "messages": [] }';
      const model = describeAt(body, ["model"]);
      const rewritten = body.slice(0, model.start) + JSON.stringify("upstream-7") + body.slice(model.end);
      expect(JSON.parse(rewritten)).toEqual({ model: "upstream-7", messages: [] });
      // Byte offsets, not UTF-16 ones: a multi-byte character before the value shifts them.
      const described = describeAt('{"é":"😀","m":1}', ["m"]);
      expect([described.start, described.end]).toEqual([17, 18]);
    });
  });

  describe("limits", () => {
    it("rejects 100,000 nested arrays at the 65th, without trapping", () => {
      expect(check("[".repeat(100_000))).toEqual({ ok: false, error: "nesting too deep", offset: 64 });
      expect(check("[".repeat(100_000) + "]".repeat(100_000))).toEqual({ ok: false, error: "nesting too deep", offset: 64 });
    });

    it("handles 100,000 levels when allowed, parsing and canonicalising without recursion", () => {
      const deep = "[".repeat(100_000) + "]".repeat(100_000);
      expect(check("[".repeat(100_000), 200_000)).toEqual({ ok: false, error: "unexpected end of input", offset: 100_000 });
      expect(check(deep, 200_000)).toEqual({ ok: true });
      expect(canonical(deep, 200_000)).toBe(deep);
      const deepObject = '{"a":'.repeat(50_000) + "1" + "}".repeat(50_000);
      expect(canonical(deepObject, 200_000)).toBe(deepObject);
    });

    it("honours a configured depth", () => {
      expect(check("[[1]]", 2)).toEqual({ ok: true });
      expect(check("[[[1]]]", 2)).toEqual({ ok: false, error: "nesting too deep", offset: 2 });
      expect(check("[1]", 0)).toEqual({ ok: false, error: "nesting too deep", offset: 0 });
      expect(check("1", 0)).toEqual({ ok: true });
    });

    it("rejects input over 8 MiB before reading it, and accepts 8 MiB exactly", () => {
      const max = 8 << 20;
      const big = new Uint8Array(max + 1).fill(0x20);
      expect(check(big)).toEqual({ ok: false, error: "input too large", offset: max });
      const exact = new Uint8Array(max).fill(0x61);
      exact[0] = 0x22;
      exact[max - 1] = 0x22;
      expect(check(exact)).toEqual({ ok: true });
      expect(check("[1,2]", -1, 4)).toEqual({ ok: false, error: "input too large", offset: 4 });
    });

    it("bounds the number of values, object keys included", () => {
      expect(check("[0,0]", -1, -1, 3)).toEqual({ ok: true });
      expect(check("[0,0,0]", -1, -1, 3)).toEqual({ ok: false, error: "too many values", offset: 5 });
      expect(check('{"a":1}', -1, -1, 3)).toEqual({ ok: true });
      expect(check('{"a":1,"b":2}', -1, -1, 3)).toEqual({ ok: false, error: "too many values", offset: 7 });
      expect(check(`[${"0,".repeat(1 << 20)}0]`)).toEqual({ ok: false, error: "too many values", offset: 2 * ((1 << 20) - 1) + 1 });
    });
  });

  describe("numbers", () => {
    const readNumber = (text: string) => mod.call("readNumber", text) as number;

    it("reads the shortest form of random doubles back exactly", () => {
      const rand = prng(11);
      const view = new DataView(new ArrayBuffer(8));
      for (let i = 0; i < 5000; i++) {
        view.setUint32(0, int(rand, 2 ** 32));
        view.setUint32(4, int(rand, 2 ** 32));
        const x = view.getFloat64(0);
        if (!Number.isFinite(x)) continue;
        for (const text of [String(x), x.toExponential(), x.toPrecision(17)]) {
          expect({ text, got: readNumber(text) }).toEqual({ text, got: x });
        }
      }
    });

    it("rounds random decimal strings exactly as Number() does", () => {
      const rand = prng(12);
      for (let i = 0; i < 5000; i++) {
        const digits = Array.from({ length: 1 + int(rand, 30) }, () => int(rand, 10)).join("").replace(/^0+(?=\d)/, "");
        const point = int(rand, digits.length + 1);
        const mantissa = point > 0 && point < digits.length ? `${digits.slice(0, point)}.${digits.slice(point)}` : digits;
        const text = `${rand() < 0.3 ? "-" : ""}${mantissa}e${int(rand, 700) - 360}`;
        const want = Number(text);
        const got = readNumber(text);
        if (Number.isFinite(want)) expect({ text, got }).toEqual({ text, got: want });
        else expect({ text, got }).toEqual({ text, got: NaN }); // rejected: out of range
      }
    });

    it("reads 16 to 19 digit decimals of everyday magnitude exactly (the 128-bit path)", () => {
      const rand = prng(14);
      for (let i = 0; i < 5000; i++) {
        const digits = String(1 + int(rand, 9)) + Array.from({ length: 15 + int(rand, 4) }, () => int(rand, 10)).join("");
        const text = `${digits}e${int(rand, 55) - 27}`;
        expect({ text, got: readNumber(text) }).toEqual({ text, got: Number(text) });
        const f32 = Math.fround(rand() * 10 ** (int(rand, 12) - 6)); // what float32 tensors serialise to
        expect(readNumber(String(f32))).toBe(f32);
      }
    });

    it("rounds exact midpoints between doubles to even, and their neighbours the right way", () => {
      const rand = prng(13);
      const view = new DataView(new ArrayBuffer(8));
      // Exact decimal expansion of m × 2^e.
      const exact = (m: bigint, e: number): string => {
        if (e >= 0) return (m << BigInt(e)).toString();
        const digits = (m * 5n ** BigInt(-e)).toString().padStart(-e + 1, "0");
        return `${digits.slice(0, digits.length + e)}.${digits.slice(digits.length + e)}`;
      };
      for (let i = 0; i < 400; i++) {
        // Random positive finite doubles, a third of them subnormal.
        view.setUint32(0, i % 3 === 0 ? int(rand, 0x00100000) : int(rand, 0x7fefffff));
        view.setUint32(4, int(rand, 2 ** 32));
        const bits = view.getBigUint64(0);
        const biased = Number(bits >> 52n);
        const frac = bits & ((1n << 52n) - 1n);
        const m = biased === 0 ? frac : frac | (1n << 52n);
        const e = (biased === 0 ? 1 : biased) - 1075;
        const mid = exact(2n * m + 1n, e - 1); // halfway to the next double up
        const withPoint = mid.includes(".") ? mid : `${mid}.0`;
        const cases = [mid, `${withPoint}${"0".repeat(900)}1`, withPoint.replace(/(\d)(?=\D*$)/, (d) => String(Math.max(0, Number(d) - 1))) + "9".repeat(20)];
        for (const text of cases) {
          const want = Number(text);
          if (!Number.isFinite(want)) continue;
          expect({ text: text.slice(0, 40), len: text.length, got: readNumber(text) }).toEqual({ text: text.slice(0, 40), len: text.length, got: want });
        }
      }
    });

    it("rejects exactly what would overflow to Infinity", () => {
      expect(readNumber("1.7976931348623157e308")).toBe(Number.MAX_VALUE);
      // The midpoint between MAX_VALUE and 2^1024 rounds to even, which is Infinity.
      expect(readNumber("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791")).toBe(Number.MAX_VALUE);
      expect(readNumber("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792")).toBeNaN();
      expect(readNumber("-1.8e308")).toBeNaN();
      expect(readNumber(`0.${"0".repeat(400)}1e400`)).toBe(0.1);
      expect(readNumber(`${"0".repeat(0)}1${"0".repeat(308)}`)).toBe(1e308);
    });
  });

  describe("fuzz", () => {
    const SEEDS = [...VALID.filter(([n]) => !n.startsWith("y_nesting")).map(([, x]) => bytesOf(x)), enc('{"a":[1,-2.5e-3,{"b":"\\u00e9\\n"}],"c":null,"d":[true,false,"x\\ud83d\\ude00y"]}')];
    const SNIPPETS = ["\\u", "\\ud800", "\\udc00", "\\ud83d\\ude00", "1e400", "-0", "0.", "e+", "\t", "\u00e9", "😀", '"', "\\", "[", "]", "{", "}", ",", ":", "null", "tru", "01"];
    const BYTES = [..."{}[]:,\"\\ -+.0123456789eEtfnulr".split("").map((c) => c.charCodeAt(0)), 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];

    function mutate(rand: () => number, seed: Uint8Array): Uint8Array {
      let out = Array.from(seed);
      const times = 1 + int(rand, 3);
      for (let t = 0; t < times; t++) {
        const at = int(rand, out.length + 1);
        switch (int(rand, 7)) {
          case 0: if (out.length) out[Math.min(at, out.length - 1)] = pick(rand, BYTES); break;
          case 1: out.splice(at, 0, pick(rand, BYTES)); break;
          case 2: out.splice(at, 0, ...enc(pick(rand, SNIPPETS))); break;
          case 3: out.splice(at, 1 + int(rand, 4)); break;
          case 4: out.splice(at, 0, ...out.slice(int(rand, out.length + 1), int(rand, out.length + 1))); break;
          case 5: out = out.slice(0, at); break;
          default: if (out.length) out[Math.min(at, out.length - 1)] = int(rand, 256);
        }
      }
      return Uint8Array.from(out);
    }

    it("agrees with the strict reference on 2,000 mutated documents and 500 random ones, never trapping", () => {
      const rand = prng(2024);
      const inputs: Uint8Array[] = [];
      for (let i = 0; i < 2000; i++) inputs.push(mutate(rand, pick(rand, SEEDS)));
      for (let i = 0; i < 500; i++) inputs.push(Uint8Array.from({ length: int(rand, 40) }, () => (rand() < 0.7 ? pick(rand, BYTES) : int(rand, 256))));
      let accepted = 0;
      const mismatches: string[] = [];
      for (const input of inputs) {
        const ours = check(input);
        const ref = reference(input);
        if (ours.ok !== ref.ok) {
          mismatches.push(`${JSON.stringify(show(input))}: ours ${JSON.stringify(ours)}, reference ${ref.ok}`);
          continue;
        }
        if (!ours.ok) {
          expect(ours.offset).toBeGreaterThanOrEqual(0);
          expect(ours.offset).toBeLessThanOrEqual(input.length);
          continue;
        }
        accepted++;
        const { value, text } = ref as { value: unknown; text: string };
        expect(dump(input)).toEqual([true, normalise(value)]);
        expect(canonical(input)).toBe(refJcs(text));
        expect(consistency(input)).toBe("");
      }
      expect(mismatches).toEqual([]);
      // Enough of each outcome for the agreement to mean something.
      expect(accepted).toBeGreaterThan(200);
      expect(inputs.length - accepted).toBeGreaterThan(1000);
    });
  });

  describe("cost", () => {
    it("measures a typical 2 KB chat request", () => {
      const bytes = enc(CHAT_REQUEST);
      const time = (fn: () => unknown, iterations: number) => {
        const t0 = performance.now();
        fn();
        return ((performance.now() - t0) * 1000) / iterations;
      };
      const n = 20_000;
      mod.call("benchParse", bytes, 1000); // warm up
      const parse = time(() => mod.call("benchParse", bytes, n), n);
      const route = time(() => mod.call("benchRoute", bytes, n), n);
      const cacheKey = time(() => mod.call("benchCacheKey", bytes, n / 4), n / 4);
      const native = time(() => {
        for (let i = 0; i < n; i++) JSON.parse(CHAT_REQUEST);
      }, n);
      console.log(
        `json: ${bytes.length}-byte chat request: parse ${parse.toFixed(2)} µs (${(bytes.length / parse).toFixed(0)} MB/s), ` +
          `parse + model + roles ${route.toFixed(2)} µs, parse + canonical + sha256 ${cacheKey.toFixed(2)} µs; ` +
          `V8 JSON.parse ${native.toFixed(2)} µs`,
      );
      expect(bytes.length).toBeGreaterThan(1900);
      expect(bytes.length).toBeLessThan(2300);
      expect(mod.call("benchRoute", bytes, 1)).toBe(4); // model matched, three user messages
      expect(parse).toBeLessThan(500); // a generous bound: only catches pathological regressions
    });
  });
});

describe("json writer", () => {
  // "__I64_MIN__" stands for -2^63, which a JS number cannot carry exactly.
  const run = (ops: unknown[]) => {
    const out = mod.text("writerScript", JSON.stringify(ops).replace('"__I64_MIN__"', "-9223372036854775808"));
    return { ok: out[0] === "1", complete: out[1] === "1", out: out.slice(2) };
  };

  describe("building documents", () => {
    it.each([
      ["an OpenAI error body", [["beginObject"], ["key", "error"], ["beginObject"], ["stringField", "message", 'model "x" not found'], ["stringField", "type", "invalid_request_error"], ["nullField", "param"], ["stringField", "code", "model_not_found"], ["endObject"], ["endObject"]],
        '{"error":{"message":"model \\"x\\" not found","type":"invalid_request_error","param":null,"code":"model_not_found"}}'],
      ["empty containers", [["beginArray"], ["beginArray"], ["endArray"], ["beginObject"], ["endObject"], ["endArray"]], "[[],{}]"],
      ["every scalar", [["beginArray"], ["string", "s"], ["number", 1.5], ["number", 1e21], ["integer", "__I64_MIN__"], ["bool", true], ["bool", false], ["null"], ["endArray"]],
        '["s",1.5,1e+21,-9223372036854775808,true,false,null]'],
      ["typed fields", [["beginObject"], ["integerField", "n", 42], ["numberField", "t", 0.7], ["boolField", "b", false], ["endObject"]], '{"n":42,"t":0.7,"b":false}'],
      ["escaped keys", [["beginObject"], ["key", 'a"b\n\u0001é'], ["integer", 1], ["endObject"]], '{"a\\"b\\n\\u0001é":1}'],
      ["a top-level scalar", [["string", "x"]], '"x"'],
      ["a parsed value spliced verbatim", [["beginArray"], ["sourceValue"], ["endArray"]], '[{"a" : [1, 2.50, "\\u00e9"], "b":true}]'],
      ["a parsed value in canonical form", [["beginObject"], ["key", "k"], ["sourceCanonical"], ["endObject"]], '{"k":{"a":[1,2.5,"é"],"b":true}}'],
      ["trusted raw JSON", [["beginArray"], ["rawJson", '{"x":[1]}'], ["integer", 2], ["endArray"]], '[{"x":[1]},2]'],
    ])("writes %s", (_name, ops, expected) => {
      const result = run(ops as unknown[]);
      expect(result).toEqual({ ok: true, complete: true, out: expected });
      expect(() => JSON.parse(result.out)).not.toThrow();
    });

    it.each([
      ["a value in an object without a key", [["beginObject"], ["string", "x"], ["endObject"]]],
      ["a key outside an object", [["key", "a"]]],
      ["a key in an array", [["beginArray"], ["key", "a"], ["endArray"]]],
      ["two keys in a row", [["beginObject"], ["key", "a"], ["key", "b"], ["integer", 1], ["endObject"]]],
      ["a key without a value", [["beginObject"], ["key", "a"], ["endObject"]]],
      ["a mismatched end", [["beginArray"], ["endObject"]]],
      ["an end with nothing open", [["endArray"]]],
      ["two top-level values", [["null"], ["null"]]],
    ])("flags %s instead of throwing", (_name, ops) => {
      expect(run(ops).ok).toBe(false);
    });

    it("reports an unfinished document as incomplete", () => {
      expect(run([["beginArray"], ["integer", 1]])).toEqual({ ok: true, complete: false, out: "[1" });
      expect(run([])).toEqual({ ok: true, complete: false, out: "" });
    });
  });

  describe("numbers", () => {
    const format = (x: number) => mod.text("formatNumber", x);

    it("writes random doubles exactly as String() does", () => {
      const rand = prng(21);
      const view = new DataView(new ArrayBuffer(8));
      for (let i = 0; i < 20_000; i++) {
        view.setUint32(0, int(rand, 2 ** 32));
        view.setUint32(4, int(rand, 2 ** 32));
        const x = view.getFloat64(0);
        if (!Number.isFinite(x)) continue;
        expect({ x, s: format(x) }).toEqual({ x, s: String(x) });
      }
    });

    it("writes doubles of everyday magnitude (the 128-bit path) and float32 values as String() does", () => {
      const rand = prng(22);
      for (let i = 0; i < 20_000; i++) {
        const x = (rand() * 2 - 1) * 10 ** (int(rand, 50) - 20);
        expect({ x, s: format(x) }).toEqual({ x, s: String(x) });
        const f = Math.fround(x);
        expect({ f, s: format(f) }).toEqual({ f, s: String(f) });
      }
    });

    it("writes the RFC 8785 appendix B values and other edges as String() does", () => {
      const bits = [
        "0000000000000000", "8000000000000000", "0000000000000001", "8000000000000001", "7fefffffffffffff",
        "ffefffffffffffff", "4340000000000000", "c340000000000000", "4430000000000000", "44b52d02c7e14af5",
        "44b52d02c7e14af6", "44b52d02c7e14af7", "444b1ae4d6e2ef4e", "444b1ae4d6e2ef4f", "444b1ae4d6e2ef50",
        "3eb0c6f7a0b5ed8c", "3eb0c6f7a0b5ed8d", "41b3de4355555553", "41b3de4355555554", "41b3de4355555555",
        "41b3de4355555556", "41b3de4355555557", "becbf647612f3696", "43143ff3c1cb0959", "0010000000000000",
        "000fffffffffffff", "3ff0000000000000", "3ff0000000000001", "3fefffffffffffff",
      ];
      const view = new DataView(new ArrayBuffer(8));
      for (const h of bits) {
        view.setBigUint64(0, BigInt(`0x${h}`));
        const x = view.getFloat64(0);
        expect({ h, s: format(x) }).toEqual({ h, s: String(x) });
      }
      const edges = [0.1, 0.2, 0.30000000000000004, 1 / 3, 2 / 3, 100, 1e21, 1e-6, 1e-7, 123e-20, 2 ** 53, 2 ** 53 + 2, 2 ** 63, -(2 ** 70), 1.5e300, 4.35, 0.000001, 999999999999999900000];
      for (const x of edges) expect({ x, s: format(x) }).toEqual({ x, s: String(x) });
      for (let e = -324; e <= 308; e++) {
        const x = Number(`1e${e}`);
        expect({ e, s: format(x) }).toEqual({ e, s: String(x) });
      }
    });

    it("writes NaN and ±Infinity as null, like JSON.stringify", () => {
      expect([format(NaN), format(Infinity), format(-Infinity)]).toEqual(["null", "null", "null"]);
    });
  });

  describe("string escaping", () => {
    const quote = (s: string) => mod.text("quote", utf16(s));
    const escape = (s: string) => mod.text("escape", utf16(s));

    it.each([
      ["plain text", "hello"],
      ["quotes and backslashes", 'say "hi" \\ bye'],
      ["every control character", Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join("") + "\u007f"],
      ["line and paragraph separators", "\u2028\u2029"],
      ["non-ASCII", "é€😀"],
      ["a lone high surrogate", "a\ud800b"],
      ["a lone low surrogate", "\udc00"],
      ["a reversed pair", "\udc00\ud800"],
      ["a high surrogate at the end", "x\ud83d"],
      ["the empty string", ""],
    ])("quotes %s as JSON.stringify does", (_name, s) => {
      expect(quote(s)).toBe(JSON.stringify(s));
      expect(escape(s)).toBe(JSON.stringify(s).slice(1, -1));
    });

    it("quotes 3,000 random strings of random UTF-16 code units as JSON.stringify does", () => {
      const rand = prng(31);
      const units = [0, 0x1f, 0x20, 0x22, 0x5c, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfffd, 0xffff];
      for (let i = 0; i < 3000; i++) {
        const s = String.fromCharCode(...Array.from({ length: int(rand, 12) }, () => (rand() < 0.5 ? pick(rand, units) : int(rand, 0x10000))));
        expect(quote(s)).toBe(JSON.stringify(s));
      }
    });
  });
});

describe("canonicalJson", () => {
  describe("RFC 8785 examples", () => {
    it("canonicalises the example of section 3.2.2", () => {
      const input = `{
        "numbers": [333333333.33333329, 1E30, 4.50,
                    2e-3, 0.000000000000000000000000001],
        "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
        "literals": [null, true, false]
      }`;
      expect(canonical(input)).toBe('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
    });

    it("sorts keys by UTF-16 code units as in section 3.2.3", () => {
      const input = '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}';
      const out = refParse(canonical(input));
      const keys = out.t === "obj" ? out.members.map(([k]) => k) : [];
      expect(keys).toEqual(["\r", "1", "\u0080", "ö", "€", "😀", "\ufb33"]);
      expect(canonical(input)).toBe(refJcs(input));
    });
  });

  describe("against the reference implementation", () => {
    function randomDocument(rand: () => number, depth: number): string {
      const ws = () => pick(rand, ["", "", " ", "\n  ", "\t"]);
      const str = () => {
        let s = "";
        for (let i = int(rand, 8); i > 0; i--) {
          const r = rand();
          if (r < 0.5) s += String.fromCharCode(0x61 + int(rand, 26));
          else if (r < 0.6) s += pick(rand, ["é", "€", "😀", "\ufb33", "Ω", "\u0080"]);
          else if (r < 0.8) s += `\\u${int(rand, 0xd800).toString(16).padStart(4, "0")}`;
          else s += pick(rand, ['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\ud83d\\ude00"]);
        }
        return `"${s}"`;
      };
      const num = () => {
        let x = pick(rand, [0, -0, 1, -1, 0.5, 1e21, 1e-7, 123456789, 2 ** 53 + 2, Number.MAX_VALUE, 5e-324]) * (rand() < 0.5 ? 1 : rand() * 1000);
        if (!Number.isFinite(x)) x = 1;
        const forms = [String(x), x.toExponential(), x.toPrecision(1 + int(rand, 21)), x.toExponential(int(rand, 20)).toUpperCase().replace("E", "E+").replace("E+-", "E-").replace("E++", "E+")];
        return pick(rand, forms.filter((f) => Number.isFinite(Number(f)))); // 2e+308 is MAX_VALUE.toPrecision(1)
      };
      const r = rand();
      if (depth > 3 || r < 0.45) {
        return pick(rand, [str, num, num, () => pick(rand, ["true", "false", "null"])])();
      }
      if (r < 0.7) return `[${ws()}${Array.from({ length: int(rand, 5) }, () => randomDocument(rand, depth + 1)).join(`${ws()},${ws()}`)}${ws()}]`;
      const n = rand() < 0.1 ? 20 + int(rand, 30) : int(rand, 6); // sometimes past the insertion-sort size
      return `{${ws()}${Array.from({ length: n }, () => `${str()}${ws()}:${ws()}${randomDocument(rand, depth + 1)}`).join(",")}${ws()}}`;
    }

    it("matches on 1,000 random documents (escapes, unicode keys, duplicates, number forms)", () => {
      const rand = prng(41);
      for (let i = 0; i < 1000; i++) {
        const doc = randomDocument(rand, 0);
        expect({ doc, ok: reference(enc(doc)).ok }).toEqual({ doc, ok: true });
        expect({ doc, got: canonical(doc) }).toEqual({ doc, got: refJcs(doc) });
      }
    });

    // Number::toString of the double, except an integer literal: its exact digits (the same within +-2^53).
    const canonicalNumber = (text: string) => (/^-?\d+$/.test(text) ? BigInt(text).toString() : String(Number(text)));

    it("writes numbers in every textual form as Number::toString of their double (integer literals exactly)", () => {
      const rand = prng(42);
      const view = new DataView(new ArrayBuffer(8));
      for (let i = 0; i < 3000; i++) {
        view.setUint32(0, int(rand, 2 ** 32));
        view.setUint32(4, int(rand, 2 ** 32));
        const x = view.getFloat64(0);
        if (!Number.isFinite(x)) continue;
        for (const text of [String(x), x.toExponential(), x.toPrecision(15), x.toPrecision(16), x.toPrecision(17), x.toExponential(3)]) {
          expect({ text, got: canonical(`[${text}]`) }).toEqual({ text, got: `[${canonicalNumber(text)}]` });
        }
      }
      for (let i = 0; i < 3000; i++) {
        const x = Math.fround((rand() * 2 - 1) * 10 ** (int(rand, 30) - 10));
        for (const text of [String(x), x.toPrecision(17), x.toExponential(18)]) {
          expect({ text, got: canonical(`[${text}]`) }).toEqual({ text, got: `[${canonicalNumber(text)}]` });
        }
      }
      for (const text of ["-0", "0.0", "-0e10", "1.0", "1e2", "100e-2", "0.1e1", "1E-7", "12345678901234567890.0", "0.000001", "1e21", "999999999999999999999e0", "4.50", "1e-400", "9007199254740992", "-9007199254740992"]) {
        expect({ text, got: canonical(text) }).toEqual({ text, got: String(Number(text)) });
      }
    });

    it("keeps an integer literal's exact digits beyond 2^53, where RFC 8785 would round it", () => {
      // Python reads these as exact ints: two different seeds must not share a cache key.
      for (const text of ["9007199254740993", "12345678901234567", "-12345678901234567", "18446744073709551615", "999999999999999999999", "1" + "0".repeat(30)]) {
        expect({ text, got: canonical(text) }).toEqual({ text, got: text });
      }
      expect(canonical("12345678901234567")).not.toBe(canonical("12345678901234568"));
      // Written with a fraction or an exponent it is a double, as Python's float reads it.
      expect(canonical("12345678901234567.0")).toBe("12345678901234568");
      expect(canonical("1.2345678901234567e16")).toBe("12345678901234568");
      expect(canonical("[-0, 0, 1, -1]")).toBe("[0,0,1,-1]");
    });

    it("keeps duplicate keys, sorted stably", () => {
      expect(canonical('{"b":1,"a":2,"b":0,"a":1}')).toBe('{"a":2,"a":1,"b":1,"b":0}');
      expect(canonical('{"a":2}')).not.toBe(canonical('{"a":1,"a":2}'));
    });

    it("canonicalises the chat request like the reference", () => {
      expect(canonical(CHAT_REQUEST)).toBe(refJcs(CHAT_REQUEST));
    });
  });
});
