// The rate-limit response headers in OpenAI's format, written as bytes (no strings on the request
// path). Pure.
//
//   x-ratelimit-limit-{requests,tokens}      the bucket's capacity (its burst)
//   x-ratelimit-remaining-{requests,tokens}  whole units left after this request's reservation
//   x-ratelimit-reset-{requests,tokens}      time until the bucket is full again, as Go's
//                                            time.Duration prints it at millisecond precision:
//                                            "0s", "20ms", "1s", "1.5s", "6m0s", "1h2m3.004s"
//   retry-after                              (429 only) whole seconds until the request fits

import { writeDecimal } from "../../assembly/http/decimal";

export { writeDecimal };

/** Header names, in the order Dim × Field. */
export const LIMIT_REQUESTS = "x-ratelimit-limit-requests";
export const LIMIT_TOKENS = "x-ratelimit-limit-tokens";
export const REMAINING_REQUESTS = "x-ratelimit-remaining-requests";
export const REMAINING_TOKENS = "x-ratelimit-remaining-tokens";
export const RESET_REQUESTS = "x-ratelimit-reset-requests";
export const RESET_TOKENS = "x-ratelimit-reset-tokens";
export const RETRY_AFTER = "retry-after";

/** Bytes a value may take: a 20-digit integer, or the longest duration (`2562047h47m16.854s`). */
export const VALUE_BYTES: i32 = 32;

/** Writes `ms` (clamped at 0) as Go's Duration.String() would print it; returns the length. */
export function writeDuration(ms: i64, p: usize): i32 {
  if (ms <= 0) {
    store<u16>(p, 0x7330); // "0s"
    return 2;
  }
  if (ms < 1000) {
    const n = writeDecimal(ms, p);
    store<u16>(p + <usize>n, 0x736d); // "ms"
    return n + 2;
  }
  let n = 0;
  const hours = ms / 3_600_000;
  const minutes = ms / 60_000 % 60;
  const seconds = ms / 1000 % 60;
  const millis = <i32>(ms % 1000);
  if (hours > 0) {
    n += writeDecimal(hours, p);
    store<u8>(p + <usize>n, 0x68); // h
    n++;
  }
  if (ms >= 60_000) {
    n += writeDecimal(minutes, p + <usize>n);
    store<u8>(p + <usize>n, 0x6d); // m
    n++;
  }
  n += writeDecimal(seconds, p + <usize>n);
  if (millis > 0) {
    store<u8>(p + <usize>n, 0x2e); // .
    n++;
    // Three digits, trailing zeros dropped.
    const digits = millis % 10 != 0 ? 3 : millis % 100 != 0 ? 2 : 1;
    let scaled = digits == 3 ? millis : digits == 2 ? millis / 10 : millis / 100;
    for (let i = digits - 1; i >= 0; i--) {
      store<u8>(p + <usize>(n + i), <u8>(0x30 + scaled % 10));
      scaled /= 10;
    }
    n += digits;
  }
  store<u8>(p + <usize>n, 0x73); // s
  n++;
  return n;
}

/** `retry-after` seconds for a wait of `ms`: rounded up, at least 1. */
export function retryAfterSeconds(ms: i64): i64 {
  if (ms <= 1000) return 1;
  return (ms + 999) / 1000;
}

/** A value written by `write*`, as a string (tests and local replies). */
export function durationText(ms: i64): string {
  const buf = new ArrayBuffer(VALUE_BYTES);
  const n = writeDuration(ms, changetype<usize>(buf));
  return String.UTF8.decodeUnsafe(changetype<usize>(buf), <usize>n);
}

export function decimalText(v: i64): string {
  const buf = new ArrayBuffer(VALUE_BYTES);
  const n = writeDecimal(v, changetype<usize>(buf));
  return String.UTF8.decodeUnsafe(changetype<usize>(buf), <usize>n);
}
