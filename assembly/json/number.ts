// Number tokens (already validated against the RFC 8259 grammar by the parser): exact
// decomposition of the decimal, correctly rounded conversion to f64 (round half to even, as
// JSON.parse does), and exact integer access.
//
// f64 conversion, in three tiers:
// 1. Clinger's fast path when the digits and the power of ten are both exact doubles.
// 2. Up to 19 digits and a power of ten within ±27 (every float a client serialises, such as
//    0.30000000000000004): exact 128-bit arithmetic, since 5^27 fits in 64 bits.
// 3. Otherwise an approximation corrected by exact big-integer comparison against the midpoints
//    between neighbouring doubles. Digits past the 800th are folded into one sticky digit, which
//    cannot change any rounding decision (no midpoint has more than 767 significant digits).

import { Big, compareBig } from "./bignum";
import { compare128, U128 } from "./u128";

const POW10: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];
const POW5_64: StaticArray<u64> = [
  1, 5, 25, 125, 625, 3125, 15625, 78125, 390625, 1953125, 9765625, 48828125, 244140625,
  1220703125, 6103515625, 30517578125, 152587890625, 762939453125, 3814697265625,
  19073486328125, 95367431640625, 476837158203125, 2384185791015625, 11920928955078125,
  59604644775390625, 298023223876953125, 1490116119384765625, 7450580596923828125,
];
const MAX_KEPT_DIGITS = 800;
const INF_BITS: u64 = 0x7FF0000000000000;
const MAX_BITS: u64 = 0x7FEFFFFFFFFFFFFF;

// The last analysed token: value = (-1)^neg × D × 10^E, D = concat[lead, trail) where concat is
// the integer digits followed by the fraction digits.
let neg = false;
let intStart = 0;
let intLen = 0;
let fracStart = 0;
let lead = 0;
let trail = 0;
let expo: i64 = 0; // the written exponent, saturated at ±1e15 (beyond any input length)

/** Decomposes the number token [start, end) for the accessors below. */
export function analyseNumber(base: usize, start: i32, end: i32): void {
  let i = start;
  neg = load<u8>(base + <usize>i) == 0x2D;
  if (neg) i++;
  intStart = i;
  while (i < end && <u32>load<u8>(base + <usize>i) - 0x30 < 10) i++;
  intLen = i - intStart;
  let fracLen = 0;
  fracStart = i;
  if (i < end && load<u8>(base + <usize>i) == 0x2E) {
    i++;
    fracStart = i;
    while (i < end && <u32>load<u8>(base + <usize>i) - 0x30 < 10) i++;
    fracLen = i - fracStart;
  }
  expo = 0;
  if (i < end) { // e or E
    i++;
    let expNeg = false;
    const s = load<u8>(base + <usize>i);
    if (s == 0x2D || s == 0x2B) {
      expNeg = s == 0x2D;
      i++;
    }
    while (i < end) {
      if (expo < 1_000_000_000_000_000) expo = expo * 10 + <i64>(load<u8>(base + <usize>i) - 0x30);
      i++;
    }
    if (expNeg) expo = -expo;
  }
  const total = intLen + fracLen;
  lead = 0;
  while (lead < total && digitAt(base, lead) == 0) lead++;
  trail = total;
  while (trail > lead && digitAt(base, trail - 1) == 0) trail--;
}

// @ts-ignore: decorator
@inline
function digitAt(base: usize, j: i32): u32 {
  const p = j < intLen ? intStart + j : fracStart + (j - intLen);
  return <u32>load<u8>(base + <usize>p) - 0x30;
}

/** Whether the analysed number has a minus sign (also for -0). */
export function numberNegative(): bool {
  return neg;
}

/** Count of significant digits of the analysed number (0 for any zero). */
export function significantDigits(): i32 {
  return trail - lead;
}

/** Power of ten of the leading significant digit (meaningless when the number is zero). */
export function leadingExponent(): i64 {
  return expo + <i64>intLen - <i64>lead - 1;
}

/** Writes the significant digits as ASCII at `dst`. */
export function copyDigits(base: usize, dst: usize): void {
  for (let j = lead; j < trail; j++) store<u8>(dst + <usize>(j - lead), <u8>(0x30 + digitAt(base, j)));
}

/** Value of the number token [start, end), correctly rounded. */
export function numberToF64(base: usize, start: i32, end: i32): f64 {
  analyseNumber(base, start, end);
  return analysedToF64(base);
}

// 2^1024 - 2^970, halfway between the largest double and 2^1024: from here up, values round to
// Infinity (the tie goes to the even neighbour, which is 2^1024).
const OVERFLOW_DIGITS = "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";

/**
 * False if the number token [start, end) lies beyond the double range (rounds to ±Infinity).
 * Linear in the token's length: no conversion, just digits compared with the threshold.
 */
export function numberIsFinite(base: usize, start: i32, end: i32): bool {
  analyseNumber(base, start, end);
  if (trail == lead) return true;
  const p = leadingExponent();
  if (p <= 307) return true;
  if (p >= 309) return false;
  // Same leading power of ten: compare digit by digit (the threshold has 309 digits).
  const n = trail - lead;
  const t = changetype<usize>(OVERFLOW_DIGITS);
  for (let j = 0; j < 309; j++) {
    const digit = j < n ? digitAt(base, lead + j) : 0;
    const limit = <u32>load<u16>(t + (<usize>j << 1)) - 0x30;
    if (digit != limit) return digit < limit;
  }
  return false; // equal to or (with more digits) above the threshold
}

/** True if the token's value is an integer in i64 range, whatever the notation (`1.0`, `1e3`). */
export function numberIsInteger(base: usize, start: i32, end: i32): bool {
  analyseNumber(base, start, end);
  return analysedInteger(base);
}

/** The token's value as i64; 0 unless `numberIsInteger`. */
export function numberToI64(base: usize, start: i32, end: i32): i64 {
  analyseNumber(base, start, end);
  if (!analysedInteger(base)) return 0;
  const u = analysedMagnitude(base);
  return neg ? <i64>(<u64>0 - u) : <i64>u;
}

function analysedInteger(base: usize): bool {
  const n = trail - lead;
  if (n == 0) return true;
  const p = leadingExponent();
  if (p > 18 || p - <i64>n + 1 < 0) return false;
  const u = analysedMagnitude(base); // < 10^19 < 2^64
  return neg ? u <= 0x8000000000000000 : u <= 0x7FFFFFFFFFFFFFFF;
}

// D × 10^E for an analysed integer below 10^19.
function analysedMagnitude(base: usize): u64 {
  if (trail == lead) return 0; // any zero, whatever its exponent (`0e999999999`)
  let u: u64 = 0;
  for (let j = lead; j < trail; j++) u = u * 10 + <u64>digitAt(base, j);
  const e = <i32>(leadingExponent() - <i64>(trail - lead) + 1);
  for (let k = 0; k < e; k++) u *= 10;
  return u;
}

function analysedToF64(base: usize): f64 {
  const n = trail - lead;
  if (n == 0) return neg ? -0.0 : 0.0;
  const p = leadingExponent();
  if (p >= 309) return neg ? -Infinity : Infinity;
  if (p <= -325) return neg ? -0.0 : 0.0; // below 1e-324, under half the smallest subnormal
  let x: f64;
  const e = <i32>p - n + 1; // value = D × 10^e
  if (n <= 19 && e >= -27 && e <= 27) {
    let d: u64 = 0;
    for (let j = lead; j < trail; j++) d = d * 10 + <u64>digitAt(base, j);
    if (n <= 15 && e >= -22 && e <= 22 + 15 - n) {
      // D < 10^15 is exact, and so is every power of ten up to 1e22.
      x = <f64>d;
      if (e < 0) x /= unchecked(POW10[-e]);
      else if (e <= 22) x *= unchecked(POW10[e]);
      else x = x * unchecked(POW10[e - 22]) * 1e22; // the first product is still an exact integer
    } else {
      x = e >= 0 ? scaleUp128(d, e) : scaleDown128(d, -e);
    }
  } else {
    x = slowToF64(base, n, <i32>p);
  }
  return neg ? -x : x;
}

const P128 = new U128();
const Q128 = new U128();

/** 2^n for a normal exponent. */
// @ts-ignore: decorator
@inline
function pow2(n: i32): f64 {
  return reinterpret<f64>(<u64>(1023 + n) << 52);
}

/** d × 10^e rounded to nearest even, for e in [0, 27]: d × 5^e is exact in 128 bits. */
function scaleUp128(d: u64, e: i32): f64 {
  const prod = P128.setMul(d, unchecked(POW5_64[e]));
  const bits = prod.bitLength();
  if (bits <= 53) return <f64>prod.lo * pow2(e);
  const shift = bits - 53; // 1..75
  let mant = shift < 64 ? (prod.lo >> <u64>shift) | (prod.hi << <u64>(64 - shift)) : prod.hi >> <u64>(shift - 64);
  // Compare the dropped bits with half of the last kept bit.
  const kept = Q128.setShl(mant, shift);
  const rest = prod.sub(kept);
  const c = compare128(rest, Q128.setShl(1, shift - 1));
  if (c > 0 || (c == 0 && (mant & 1) != 0)) mant++;
  return <f64>mant * pow2(shift + e); // mant <= 2^53 and the scaling are exact
}

/** d × 10^-k rounded to nearest even, for k in [1, 27]. */
function scaleDown128(d: u64, k: i32): f64 {
  let x = <f64>d; // within 1.5 ulp after the divisions; corrected below
  x = k <= 22 ? x / unchecked(POW10[k]) : x / 1e22 / unchecked(POW10[k - 22]);
  let bits = reinterpret<u64>(x);
  for (let iter = 0; iter < 8; iter++) {
    const up = midpointCompare128(d, k, bits, bits + 1);
    if (up > 0 || (up == 0 && (bits & 1) != 0)) {
      bits++;
      continue;
    }
    const down = midpointCompare128(d, k, bits - 1, bits); // bits > 0: the value is >= 1e-27
    if (down < 0 || (down == 0 && (bits & 1) != 0)) {
      bits--;
      continue;
    }
    break;
  }
  return reinterpret<f64>(bits);
}

/** Sign of d × 10^-k minus the midpoint of the adjacent positive normal doubles `lo` < `hi`. */
function midpointCompare128(d: u64, k: i32, lo: u64, hi: u64): i32 {
  const loM = (lo & 0xFFFFFFFFFFFFF) | (<u64>1 << 52);
  const hiM = (hi & 0xFFFFFFFFFFFFF) | (<u64>1 << 52);
  const loK = <i32>(lo >> 52) - 1075;
  const hiK = <i32>(hi >> 52) - 1075;
  const t0 = loK < hiK ? loK : hiK;
  const m = (loM << <u64>(loK - t0)) + (hiM << <u64>(hiK - t0)); // midpoint = m × 2^(t0 - 1)
  // d × 10^-k <=> m × 2^(t0-1) is d <=> m × 5^k × 2^t with t = t0 - 1 + k.
  const r = P128.setMul(m, unchecked(POW5_64[k])); // < 2^55 × 2^63
  const t = t0 - 1 + k;
  if (t >= 0) {
    if (r.bitLength() + t > 64) return -1; // r × 2^t >= 2^64 > d
    const rv = r.lo << <u64>t;
    return d < rv ? -1 : d > rv ? 1 : 0;
  }
  if (64 - <i32>clz(d) - t > 127) return 1; // d × 2^-t >= 2^127 > r
  return compare128(Q128.setShl(d, -t), r);
}

// Scratch for the slow path's comparisons (grown once, then reused).
const LEFT = new Big(40);
const RIGHT = new Big(40);

/** Multiplies by 10^e with a few correctly rounded steps (an approximation for the slow path). */
function scale10(x: f64, e: i32): f64 {
  while (e > 22) {
    x *= 1e22;
    e -= 22;
  }
  while (e < -22) {
    x /= 1e22;
    e += 22;
  }
  return e >= 0 ? x * unchecked(POW10[e]) : x / unchecked(POW10[-e]);
}

function slowToF64(base: usize, n: i32, p: i32): f64 {
  const kept = n > MAX_KEPT_DIGITS ? MAX_KEPT_DIGITS : n;
  const d = new Big(((kept + 1) >> 3) + 4);
  let j = lead;
  const stop = lead + kept;
  while (j < stop) {
    let chunk: u32 = 0;
    let scale: u32 = 1;
    for (let k = 0; k < 9 && j < stop; k++, j++) {
      chunk = chunk * 10 + digitAt(base, j);
      scale *= 10;
    }
    d.mulAdd(scale, chunk);
  }
  let used = kept;
  if (n > kept) {
    d.mulAdd(10, 1); // sticky digit: the dropped tail holds the last (non-zero) digit
    used++;
  }
  const e = p - used + 1;

  // First guess from the leading 19 digits.
  let top: u64 = 0;
  const topCount = n < 19 ? n : 19;
  for (let k = 0; k < topCount; k++) top = top * 10 + <u64>digitAt(base, lead + k);
  let x = scale10(<f64>top, p - topCount + 1);
  let bits = reinterpret<u64>(x);
  if (bits > MAX_BITS) bits = MAX_BITS;

  // The exact comparisons' operands: D × 5^max(e, 0) and 5^max(-e, 0).
  const l5 = d.mulPow5(e > 0 ? e : 0);
  const p5 = new Big(4).setU64(1).mulPow5(e < 0 ? -e : 0);
  // Step one ulp at a time towards the correctly rounded value (the guess is a few ulps off).
  for (let iter = 0; iter < 128; iter++) {
    const up = compareWithMidpoint(bits, bits + 1, e, l5, p5);
    if (up > 0 || (up == 0 && (bits & 1) != 0)) {
      bits++;
      if (bits == INF_BITS) break;
      continue;
    }
    if (bits > 0) {
      const down = compareWithMidpoint(bits - 1, bits, e, l5, p5);
      if (down < 0 || (down == 0 && (bits & 1) != 0)) {
        bits--;
        continue;
      }
    }
    break;
  }
  return reinterpret<f64>(bits);
}

/**
 * Sign of D × 10^e minus the midpoint of the adjacent non-negative doubles `lo` < `hi`, given
 * l5 = D × 5^max(e, 0) and p5 = 5^max(-e, 0).
 */
function compareWithMidpoint(lo: u64, hi: u64, e: i32, l5: Big, p5: Big): i32 {
  // Each double as m × 2^k; +Infinity's bits decode to 2^1024, the right upper bound.
  const loBiased = <i32>(lo >> 52);
  const hiBiased = <i32>(hi >> 52);
  const loM = loBiased == 0 ? lo & 0xFFFFFFFFFFFFF : (lo & 0xFFFFFFFFFFFFF) | (<u64>1 << 52);
  const hiM = hiBiased == 0 ? hi & 0xFFFFFFFFFFFFF : (hi & 0xFFFFFFFFFFFFF) | (<u64>1 << 52);
  const loK = (loBiased == 0 ? 1 : loBiased) - 1075;
  const hiK = (hiBiased == 0 ? 1 : hiBiased) - 1075;
  const t = loK < hiK ? loK : hiK;
  const m = (loM << <u64>(loK - t)) + (hiM << <u64>(hiK - t)); // midpoint = m × 2^(t-1)
  const k = t - 1;
  let twoL = (e > 0 ? e : 0) + (k < 0 ? -k : 0);
  let twoR = (e < 0 ? -e : 0) + (k > 0 ? k : 0);
  const common = twoL < twoR ? twoL : twoR;
  twoL -= common;
  twoR -= common;
  return compareBig(LEFT.copyFrom(l5).shl(twoL), RIGHT.copyFrom(p5).mulU64(m).shl(twoR));
}
