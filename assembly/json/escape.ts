// JSON string escaping, as JSON.stringify and RFC 8785 do it: `\"` `\\` `\b` `\f` `\n` `\r`
// `\t`, other control characters as `\u00xx` (lower-case hex), everything else as UTF-8. A lone
// surrogate in an AssemblyScript string cannot be UTF-8, so it is written as `\udxxx`, as the
// well-formed JSON.stringify of ES2019 does.

import { ByteSink } from "./sink";

const HEX = "0123456789abcdef";

/** Appends code point `cp` of string content with JSON escaping. */
export function writeEscapedCodePoint(sink: ByteSink, cp: u32): void {
  if (cp >= 0x20 && cp != 0x22 && cp != 0x5C) {
    sink.codePoint(cp);
    return;
  }
  switch (cp) {
    case 0x22: sink.byte2(0x5C, 0x22); return;
    case 0x5C: sink.byte2(0x5C, 0x5C); return;
    case 0x08: sink.byte2(0x5C, 0x62); return;
    case 0x0C: sink.byte2(0x5C, 0x66); return;
    case 0x0A: sink.byte2(0x5C, 0x6E); return;
    case 0x0D: sink.byte2(0x5C, 0x72); return;
    case 0x09: sink.byte2(0x5C, 0x74); return;
  }
  writeUnicodeEscape(sink, cp);
}

function writeUnicodeEscape(sink: ByteSink, unit: u32): void {
  const p = sink.reserve(6);
  store<u8>(p, 0x5C);
  store<u8>(p, 0x75, 1);
  store<u8>(p, <u8>HEX.charCodeAt((unit >> 12) & 0xF), 2);
  store<u8>(p, <u8>HEX.charCodeAt((unit >> 8) & 0xF), 3);
  store<u8>(p, <u8>HEX.charCodeAt((unit >> 4) & 0xF), 4);
  store<u8>(p, <u8>HEX.charCodeAt(unit & 0xF), 5);
  sink.length += 6;
}

/** Appends the escaped content of `s` (no quotes). */
export function writeEscapedString(sink: ByteSink, s: string): void {
  const n = s.length;
  const sp = changetype<usize>(s);
  let i = 0;
  while (i < n) {
    const u = <u32>load<u16>(sp + (<usize>i << 1));
    i++;
    if (u - 0xD800 < 0x800) {
      if (u < 0xDC00 && i < n) {
        const lo = <u32>load<u16>(sp + (<usize>i << 1));
        if (lo - 0xDC00 < 0x400) {
          i++;
          sink.codePoint(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
          continue;
        }
      }
      writeUnicodeEscape(sink, u);
      continue;
    }
    writeEscapedCodePoint(sink, u);
  }
}

/** `s` escaped for use inside a JSON string, without the surrounding quotes. */
export function escapeJsonString(s: string): string {
  const sink = new ByteSink(s.length + 8);
  writeEscapedString(sink, s);
  return sink.toString();
}

/** `s` as a complete JSON string literal, quotes included (what JSON.stringify(s) returns). */
export function quoteJsonString(s: string): string {
  const sink = new ByteSink(s.length + 8);
  sink.byte(0x22);
  writeEscapedString(sink, s);
  sink.byte(0x22);
  return sink.toString();
}
