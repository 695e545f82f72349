// Doubles to text exactly as ECMAScript's Number::toString(10) writes them, which is also what
// JSON.stringify and RFC 8785 (JCS) require: the shortest digit string that reads back as the
// same double, the closest such string when several qualify (ties to an even digit), laid out
// in plain or exponent form by the rules of ECMA-262 §6.1.6.1.20.
//
// Digits come from the free-format algorithm of Steele & White as refined by Burger & Dybvig
// ("Printing Floating-Point Numbers Quickly and Accurately") in exact integer arithmetic, so
// there are no tables and no approximations: 128-bit integers when every quantity fits (values
// from about 1e-20 to 1e30), big integers otherwise. Integers below 2^53 skip it.

import { Big, compareBig } from "./bignum";
import { ByteSink } from "./sink";
import { compare128, U128 } from "./u128";

/** Scratch for up to 17 ASCII digits (shortest output) or 15 copied from a token. */
export const DIGITS: usize = memory.data(32);

/** Decimal exponent of the last `shortestDigits` call: value = 0.d1d2...dk × 10^exponent. */
let pointPos = 0;

/** Appends `x` as ECMAScript would print it; NaN and ±Infinity become `null` (as in JSON.stringify). */
export function writeNumber(sink: ByteSink, x: f64): void {
  if (!isFinite(x)) {
    sink.ascii("null");
    return;
  }
  if (x == 0) {
    sink.byte(0x30); // also -0
    return;
  }
  const ax = Math.abs(x);
  if (ax < 9007199254740992.0 && ax == Math.floor(ax)) {
    // Below 2^53 every integer is a double and none shorter reads back the same.
    sink.integer(<i64>x);
    return;
  }
  const count = shortestDigits(ax);
  writeDecimal(sink, x < 0, DIGITS, count, pointPos);
}

/**
 * Appends the decimal 0.d1...dk × 10^n (ASCII digits at `digits`, no leading or trailing zeros)
 * in the layout of Number::toString: plain below 1e21, `0.000001`-style down to 1e-6,
 * exponent form (`1e+21`, `1.5e-7`) otherwise.
 */
export function writeDecimal(sink: ByteSink, negative: bool, digits: usize, k: i32, n: i32): void {
  if (negative) sink.byte(0x2D);
  if (k <= n && n <= 21) {
    sink.bytes(digits, k);
    for (let i = k; i < n; i++) sink.byte(0x30);
  } else if (0 < n && n <= 21) {
    sink.bytes(digits, n);
    sink.byte(0x2E);
    sink.bytes(digits + <usize>n, k - n);
  } else if (-6 < n && n <= 0) {
    sink.byte2(0x30, 0x2E);
    for (let i = n; i < 0; i++) sink.byte(0x30);
    sink.bytes(digits, k);
  } else {
    const e = n - 1;
    sink.byte(load<u8>(digits));
    if (k > 1) {
      sink.byte(0x2E);
      sink.bytes(digits + 1, k - 1);
    }
    sink.byte2(0x65, e < 0 ? 0x2D : 0x2B);
    sink.integer(e < 0 ? -e : e);
  }
}

// Registers of the big-integer path (grown once, then reused).
const BIG_R = new Big(40);
const BIG_S = new Big(40);
const BIG_M_PLUS = new Big(40);
const BIG_M_MINUS = new Big(40);
const BIG_T = new Big(40);

/** Writes the shortest digits of a positive finite `v` to DIGITS; returns their count. */
function shortestDigits(v: f64): i32 {
  const bits = reinterpret<u64>(v);
  const biased = <i32>(bits >> 52) & 0x7FF;
  const frac = bits & 0xFFFFFFFFFFFFF;
  const f: u64 = biased == 0 ? frac : frac | (<u64>1 << 52);
  const e = (biased == 0 ? 1 : biased) - 1075; // v = f × 2^e
  const even = (f & 1) == 0; // then the rounding interval includes its ends (ties to even)
  // At a power of two the gap to the next lower double is half the gap above.
  const lowerCloser = frac == 0 && biased > 1;

  // k = ceil(log10(v)) or one less; fixed up below.
  const bitLength = 64 - <i32>clz(f);
  let k = <i32>Math.ceil(<f64>(e + bitLength - 1) * 0.30102999566398114 - 1e-10);
  // Bits of s at its largest (after the fix-up and one digit step), if 128-bit arithmetic is used.
  const sBits = (e >= 0 ? 3 : 3 - e) + <i32>(<f64>((k > 0 ? k : 0) + 2) * 3.3219280948873626);
  if (sBits <= 124) return shortest128(f, e, even, lowerCloser, k);

  // v = r / s; the interval of decimals that read back as v is (v - mMinus/s, v + mPlus/s).
  const r = BIG_R;
  const s = BIG_S;
  const mPlus = BIG_M_PLUS;
  let mMinus = mPlus;
  if (e >= 0) {
    if (!lowerCloser) {
      r.setU64(f).shl(e + 1);
      s.setU64(2);
      mPlus.setU64(1).shl(e);
    } else {
      r.setU64(f).shl(e + 2);
      s.setU64(4);
      mPlus.setU64(1).shl(e + 1);
      mMinus = BIG_M_MINUS.setU64(1).shl(e);
    }
  } else {
    if (!lowerCloser) {
      r.setU64(f).shl(1);
      s.setU64(1).shl(1 - e);
      mPlus.setU64(1);
    } else {
      r.setU64(f).shl(2);
      s.setU64(1).shl(2 - e);
      mPlus.setU64(2);
      mMinus = BIG_M_MINUS.setU64(1);
    }
  }

  // Scale so that r / s < 1, then fix k up.
  if (k >= 0) {
    s.mulPow10(k);
  } else {
    r.mulPow10(-k);
    mPlus.mulPow10(-k);
    if (mMinus !== mPlus) mMinus.mulPow10(-k);
  }
  const tmp = BIG_T;
  for (let fix = 0; fix < 3; fix++) { // the estimate is at most one short
    const c = compareBig(tmp.copyFrom(r).add(mPlus), s);
    if (even ? c < 0 : c <= 0) break;
    s.mulSmall(10);
    k++;
  }

  let count = 0;
  while (true) {
    r.mulSmall(10);
    mPlus.mulSmall(10);
    if (mMinus !== mPlus) mMinus.mulSmall(10);
    // The digit is floor(r / s) <= 9: estimate it from the top limbs, then correct by one.
    const top = s.size - 1;
    let d = <u32>(r.approxTop(top + 1) / (s.approxTop(top + 1)));
    if (d > 9) d = 9;
    if (d > 0) {
      tmp.copyFrom(s).mulSmall(d);
      if (compareBig(tmp, r) > 0) {
        d--;
        tmp.sub(s);
      }
      r.sub(tmp);
    }
    if (d < 9 && compareBig(r, s) >= 0) {
      r.sub(s);
      d++;
    }
    const cl = compareBig(r, mMinus);
    const low = even ? cl <= 0 : cl < 0; // truncating here stays in the interval
    const ch = compareBig(tmp.copyFrom(r).add(mPlus), s);
    const high = even ? ch >= 0 : ch > 0; // rounding up here stays in the interval
    if (!low && !high && count < 16) {
      store<u8>(DIGITS + <usize>count, <u8>(0x30 + d));
      count++;
      continue;
    }
    if (low && high) {
      const half = compareBig(tmp.copyFrom(r).shl(1), s);
      if (half > 0 || (half == 0 && (d & 1) != 0)) d++;
    } else if (high) {
      d++;
    }
    store<u8>(DIGITS + <usize>count, <u8>(0x30 + d));
    count++;
    break;
  }
  pointPos = k;
  return count;
}

// The same algorithm as shortestDigits in 128-bit registers (no allocation).
const R = new U128();
const S = new U128();
const M_PLUS = new U128();
const M_MINUS = new U128();
const T = new U128();

function shortest128(f: u64, e: i32, even: bool, lowerCloser: bool, k: i32): i32 {
  if (e >= 0) {
    R.setShl(f, lowerCloser ? e + 2 : e + 1);
    S.set(0, lowerCloser ? 4 : 2);
    M_PLUS.setShl(1, lowerCloser ? e + 1 : e);
    M_MINUS.setShl(1, e);
  } else {
    R.setShl(f, lowerCloser ? 2 : 1);
    S.setShl(1, lowerCloser ? 2 - e : 1 - e);
    M_PLUS.set(0, lowerCloser ? 2 : 1);
    M_MINUS.set(0, 1);
  }
  if (k >= 0) {
    mulPow10(S, k);
  } else {
    mulPow10(R, -k);
    mulPow10(M_PLUS, -k);
    mulPow10(M_MINUS, -k);
  }
  for (let fix = 0; fix < 3; fix++) { // the estimate is at most one short
    const c = compare128(T.copy(R).add(M_PLUS), S);
    if (even ? c < 0 : c <= 0) break;
    S.mulSmall(10);
    k++;
  }
  const sameMargins = compare128(M_PLUS, M_MINUS) == 0;
  const sF = <f64>S.hi * 18446744073709551616.0 + <f64>S.lo;
  let count = 0;
  while (true) {
    R.mulSmall(10);
    M_PLUS.mulSmall(10);
    if (!sameMargins) M_MINUS.mulSmall(10);
    // The digit is floor(R / S) <= 9: estimate it in floating point, then correct by one.
    let d = <u32>((<f64>R.hi * 18446744073709551616.0 + <f64>R.lo) / sF);
    if (d > 9) d = 9;
    if (d > 0) {
      T.copy(S).mulSmall(d);
      if (compare128(T, R) > 0) {
        d--;
        T.sub(S);
      }
      R.sub(T);
    }
    if (d < 9 && compare128(R, S) >= 0) {
      R.sub(S);
      d++;
    }
    const cl = compare128(R, sameMargins ? M_PLUS : M_MINUS);
    const low = even ? cl <= 0 : cl < 0;
    const ch = compare128(T.copy(R).add(M_PLUS), S);
    const high = even ? ch >= 0 : ch > 0;
    if (!low && !high && count < 16) {
      store<u8>(DIGITS + <usize>count, <u8>(0x30 + d));
      count++;
      continue;
    }
    if (low && high) {
      const half = compare128(T.copy(R).shl1(), S);
      if (half > 0 || (half == 0 && (d & 1) != 0)) d++;
    } else if (high) {
      d++;
    }
    store<u8>(DIGITS + <usize>count, <u8>(0x30 + d));
    count++;
    break;
  }
  pointPos = k;
  return count;
}

function mulPow10(x: U128, n: i32): void {
  while (n >= 9) {
    x.mulSmall(1000000000);
    n -= 9;
  }
  let m: u32 = 1;
  for (let i = 0; i < n; i++) m *= 10;
  if (m != 1) x.mulSmall(m);
}
