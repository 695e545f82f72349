// Seedable randomness for WASI `random_get` (Envoy serves it from RAND_bytes) and for the ids the
// emulator makes up (x-request-id). splitmix64: small, fast and good enough for tests.

const MASK = (1n << 64n) - 1n;

export class SeededRandom {
  private state: bigint;

  constructor(seed: number) {
    this.state = BigInt.asUintN(64, BigInt(seed) ^ 0x9e3779b97f4a7c15n);
  }

  next64(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    return z ^ (z >> 31n);
  }

  fill(out: Uint8Array): void {
    for (let i = 0; i < out.length; i += 8) {
      let word = this.next64();
      for (let j = i; j < Math.min(i + 8, out.length); j++) {
        out[j] = Number(word & 0xffn);
        word >>= 8n;
      }
    }
  }

  /** A version-4-shaped UUID, as Envoy generates for x-request-id. */
  uuid(): string {
    const b = new Uint8Array(16);
    this.fill(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}
