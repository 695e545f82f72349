// Time and randomness come from the host so tests control them (fake clock, seeded draws).

import { proxy_get_current_time_nanoseconds, proxy_set_tick_period_milliseconds, wasi_random_get } from "../abi/imports";
import { WasmResult } from "../abi/types";
import { OUT_U64 } from "../runtime/memory";

// The clock is read once per callback: several stages of a request each ask for the time within
// one callback, where readings would differ by microseconds and each costs a host call. Every
// entry point forgets the reading (assembly/abi/exports.ts).
let nanosThisCall: u64 = 0;

/** A new callback began: the next `nowNanos` reads the host's clock. */
// @ts-ignore: decorator
@inline
export function forgetNow(): void {
  nanosThisCall = 0;
}

/** Wall-clock time in nanoseconds since the epoch, as read first in this callback; 0 if the host refused. */
export function nowNanos(): u64 {
  if (nanosThisCall != 0) return nanosThisCall;
  store<u64>(OUT_U64, 0);
  proxy_get_current_time_nanoseconds(OUT_U64);
  return (nanosThisCall = load<u64>(OUT_U64));
}

/** Wall-clock time in milliseconds since the epoch. */
export function nowMillis(): u64 {
  return nowNanos() / 1_000_000;
}

/** Arms (or with 0 disarms) the current root context's tick; each worker ticks on its own. */
export function setTickPeriod(periodMs: u32): WasmResult {
  return <WasmResult>proxy_set_tick_period_milliseconds(periodMs);
}

// xorshift64* seeded once from the host's CSPRNG: draws on the request path must not cost a host
// call each, and `Math.random` would import `env.seed`, which Envoy does not provide.
let state: u64 = 0;

function seed(): void {
  store<u64>(OUT_U64, 0);
  wasi_random_get(OUT_U64, 8);
  state = load<u64>(OUT_U64);
  if (state == 0) state = 0x9e3779b97f4a7c15 ^ nowNanos();
  if (state == 0) state = 0x2545f4914f6cdd1d;
}

/** Uniform 64-bit draw. */
export function randomU64(): u64 {
  if (state == 0) seed();
  let x = state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  state = x;
  return x * 0x2545f4914f6cdd1d;
}

/** Uniform draw in [0, bound), bound > 0. */
export function randomBelow(bound: u32): u32 {
  return <u32>((randomU64() >> 32) * <u64>bound >> 32);
}
