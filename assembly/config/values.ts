// Value predicates for configuration fields that several filters share, each with the phrase
// its error message uses for "expected ...".

export const HEADER_NAME = "a lower-case header name (letters, digits, '-', '_', '.')";
export const VERSION_NAME = "1-64 letters, digits, '.', '_', '-', starting with a letter or digit";
export const MODEL_NAME = "a model name: 1-128 letters, digits, '.', '_', ':', '/', '-', starting with a letter or digit";

/**
 * The request's host and framing, and its connection's own headers: a filter that sets or
 * removes one changes how the request travels (a `transfer-encoding` beside the body's length,
 * an `upgrade`), or makes one Envoy refuses. No header a filter writes may be one of these; a
 * filter adds the headers its own use makes unsafe.
 */
export const FRAMING_HEADERS: string[] = [
  "host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive", "proxy-connection",
];

/** Lower-case, as Envoy keys header maps; at most 128 characters. */
export function isHeaderName(s: string): bool {
  if (s.length == 0 || s.length > 128) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (!((ch >= 0x61 && ch <= 0x7a) || (ch >= 0x30 && ch <= 0x39) || ch == 0x2d || ch == 0x5f || ch == 0x2e)) return false;
  }
  return true;
}

export function isHeaderNameOrEmpty(s: string): bool {
  return s.length == 0 || isHeaderName(s);
}

export function isVisibleAscii255(s: string): bool {
  if (s.length == 0 || s.length > 255) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 0x21 || ch > 0x7e) return false;
  }
  return true;
}

export function isAlnum(ch: i32): bool {
  return (ch >= 0x30 && ch <= 0x39) || (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a);
}

export function isModelName(s: string): bool {
  if (s.length == 0 || s.length > 128 || !isAlnum(s.charCodeAt(0))) return false;
  for (let i = 1; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (!(isAlnum(ch) || ch == 0x2e || ch == 0x5f || ch == 0x3a || ch == 0x2f || ch == 0x2d)) return false;
  }
  return true;
}

/** Version and alias names appear in path segments and after '@': no '/', ':' or '@'. */
export function isVersionName(s: string): bool {
  if (s.length == 0 || s.length > 64 || !isAlnum(s.charCodeAt(0))) return false;
  for (let i = 1; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (!(isAlnum(ch) || ch == 0x2e || ch == 0x5f || ch == 0x2d)) return false;
  }
  return true;
}
