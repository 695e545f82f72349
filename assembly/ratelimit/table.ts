// The bucket table: buckets in a fixed number of shared-data slots, updated with compare-and-swap
// so that every worker of an Envoy instance sees one exact level. Pure: shared data is reached
// through a SlotStore (the filter's speaks to Envoy; tests inject their own, with races), and
// time is an argument.
//
// Where a bucket lives: its id (record.ts) picks a home slot (`id mod slots`); it lives in the
// first of PROBES slots from there (wrapping) that it owns. A lookup that meets a free slot stops
// there (slots never become free again, so the bucket is not further on); a bucket without a
// slot claims the first free slot, a slot with another format, or a slot whose owner's buckets
// are full again (`full_at_ms` passed: such a bucket holds nothing a new one would not). Every
// change, a claim included, is one compare-and-swap of the slot read; a lost race reads again,
// up to `retries` times.
//
// Limits of the scheme, documented in the filter's README: a bucket whose slot another bucket
// claimed (it was full again, e.g. a request still running after its bucket refilled) loses
// that request's settlement; two workers that claim a first slot for one bucket at the instant
// an older slot in its probe range turns claimable may give it two slots, and the later one is
// never found again (it holds one request's reservation until it is claimed in turn).

import { Limit, UNIT } from "./bucket";
import { BucketId, RECORD_BYTES, SlotRecord, SlotState, decodeRecord, encodeRecord } from "./record";

/** Slots a lookup tries from a bucket's home slot. */
export const PROBES: i32 = 8;

export enum ReadStatus { Ok, Absent, Error }
export enum WriteStatus { Ok, Conflict, Error }

/** Shared data as the table uses it: one key per slot, values with a CAS. */
export abstract class SlotStore {
  /** CAS of the last Ok read. */
  cas: u32 = 0;
  /** Byte length of the value of the last Ok read (only the first RECORD_BYTES are copied). */
  length: i32 = 0;

  /** Reads slot `slot`'s value into `into` (room for RECORD_BYTES bytes); sets `cas` and `length`. */
  abstract read(slot: u32, into: usize): ReadStatus;

  /** Writes RECORD_BYTES bytes from `from` into slot `slot` if its CAS is still `cas` (0: unconditionally). */
  abstract write(slot: u32, from: usize, cas: u32): WriteStatus;
}

/** The limits of one bucket; null: the dimension is not limited. */
export class BucketLimits {
  constructor(
    public requests: Limit | null,
    public tokens: Limit | null,
  ) {}
}

/** What a request asks of a bucket. */
export class Want {
  /** Requests to take (1, or 0 to touch only tokens). */
  requests: i64 = 1;
  /** Tokens wanted. */
  tokens: i64 = 0;
  /** Fewest tokens accepted when fewer than `tokens` are left (== tokens: all or nothing). */
  minTokens: i64 = 0;
  /** A smaller grant is `baseTokens + k × stepTokens` (the prompt plus whole rounds of choices). */
  baseTokens: i64 = 0;
  stepTokens: i64 = 1;

  set(requests: i64, tokens: i64, minTokens: i64, baseTokens: i64, stepTokens: i64): Want {
    this.requests = requests;
    this.tokens = tokens;
    this.minTokens = minTokens < tokens ? minTokens : tokens;
    this.baseTokens = baseTokens;
    this.stepTokens = stepTokens > 0 ? stepTokens : 1;
    return this;
  }
}

export enum Take {
  /** Reserved: `granted` tokens and the requests. */
  Taken,
  /** Not enough left now; `retryAfterMs` says when there will be. Nothing was changed. */
  Refused,
  /** More tokens than the bucket can ever hold (even the least accepted). Nothing was changed; the levels are read. */
  TooLarge,
  /** Every compare-and-swap lost its race. Nothing was changed. */
  Contention,
  /** No slot in the probe range is this bucket's or claimable. */
  TableFull,
  /** Shared data failed (or a slot was never created). */
  StoreError,
}

export class TakeResult {
  status: Take = Take.StoreError;
  slot: u32 = 0;
  /** Tokens reserved (Taken). */
  granted: i64 = 0;
  /** Levels after the reservation (Taken), or as they are (Refused, TooLarge). */
  requestsLevel: i64 = 0;
  tokensLevel: i64 = 0;
  /** Which dimensions refused (Refused; TooLarge sets tokens). */
  refusedRequests: bool = false;
  refusedTokens: bool = false;
  /** Milliseconds until what was refused would be there (Refused). */
  retryAfterMs: i64 = 0;
  /** Compare-and-swaps lost before the outcome. */
  conflicts: i32 = 0;

  reset(): TakeResult {
    this.status = Take.StoreError;
    this.slot = 0;
    this.granted = 0;
    this.requestsLevel = 0;
    this.tokensLevel = 0;
    this.refusedRequests = false;
    this.refusedTokens = false;
    this.retryAfterMs = 0;
    this.conflicts = 0;
    return this;
  }
}

export enum Give {
  /** Applied. */
  Done,
  /** The slot holds another bucket now (this one was full again and its slot claimed): nothing to do. */
  Gone,
  Contention,
  StoreError,
}

export class BucketTable {
  private readBuf: ArrayBuffer = new ArrayBuffer(RECORD_BYTES);
  private writeBuf: ArrayBuffer = new ArrayBuffer(RECORD_BYTES);
  private rec: SlotRecord = new SlotRecord();
  /** Compare-and-swaps lost by the last `give`. */
  giveConflicts: i32 = 0;
  /** Levels the last `give` left (when Done). */
  givenRequestsLevel: i64 = 0;
  givenTokensLevel: i64 = 0;

  constructor(
    public store: SlotStore,
    /** Number of slots (keys `aigw/token-bucket/0` .. `slots - 1`). */
    public readonly slots: u32,
    /** Further attempts after a lost compare-and-swap. */
    public readonly retries: i32,
  ) {}

  /** Home slot of bucket `id`. */
  home(id: BucketId): u32 {
    return <u32>(id.lo % <u64>this.slots);
  }

  /** Creates every slot that does not exist yet (as free); false if shared data failed. */
  createSlots(): bool {
    const buf = changetype<usize>(this.readBuf);
    const empty = changetype<usize>(this.writeBuf);
    encodeRecord(this.rec.clear(), empty);
    for (let s: u32 = 0; s < this.slots; s++) {
      const st = this.store.read(s, buf);
      if (st == ReadStatus.Ok) continue;
      if (st == ReadStatus.Error) return false;
      if (this.store.write(s, empty, 0) != WriteStatus.Ok) return false;
    }
    return true;
  }

  /** Reserves `want` from bucket `id` at time `nowMs`. */
  take(id: BucketId, limits: BucketLimits, want: Want, nowMs: u64, out: TakeResult): TakeResult {
    this.takeFrom(id, limits, want, nowMs, out);
    const tl = limits.tokens;
    const status = out.status;
    // A reservation that can never fit is refused even when the bucket could not be read.
    if (tl !== null && want.minTokens > tl.burst && status != Take.TooLarge) {
      const rl = limits.requests;
      out.status = Take.TooLarge;
      out.refusedTokens = true;
      out.requestsLevel = rl !== null ? rl.capacity : 0;
      out.tokensLevel = tl.capacity;
    }
    return out;
  }

  private takeFrom(id: BucketId, limits: BucketLimits, want: Want, nowMs: u64, out: TakeResult): TakeResult {
    out.reset();
    const rl = limits.requests;
    const tl = limits.tokens;
    // Never possible, whatever the level (refused once the levels are read, for the headers).
    const tooLarge = tl !== null && want.minTokens > tl.burst;
    const rec = this.rec;
    const buf = changetype<usize>(this.readBuf);
    const store = this.store;
    const home = this.home(id);
    const probes = <u32>PROBES < this.slots ? <u32>PROBES : this.slots;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      // Find the bucket's slot, or the one it would claim.
      let slot: i64 = -1;
      let cas: u32 = 0;
      let found = false;
      for (let p: u32 = 0; p < probes; p++) {
        const s = (home + p) % this.slots;
        if (store.read(s, buf) != ReadStatus.Ok) {
          out.status = Take.StoreError;
          return out;
        }
        const state = decodeRecord(buf, store.length, rec);
        if (state == SlotState.Owned && rec.ownedBy(id)) {
          slot = s;
          cas = store.cas;
          found = true;
          break;
        }
        const claimable = state != SlotState.Owned || nowMs >= rec.fullAtMs;
        if (claimable && slot < 0) {
          slot = s;
          cas = store.cas;
        }
        if (state == SlotState.Free) break;
      }
      if (slot < 0) {
        out.status = Take.TableFull;
        return out;
      }
      let requests: i64;
      let tokens: i64;
      let updated: u64;
      if (found) {
        // `rec` still holds the owned slot's record (the scan stopped there).
        updated = rec.updatedMs > nowMs ? rec.updatedMs : nowMs;
        const elapsed = rec.updatedMs < nowMs ? <i64>(nowMs - rec.updatedMs) : 0;
        requests = rl !== null ? rl.refill(rec.requests, elapsed) : 0;
        tokens = tl !== null ? tl.refill(rec.tokens, elapsed) : 0;
      } else {
        updated = nowMs;
        requests = rl !== null ? rl.capacity : 0;
        tokens = tl !== null ? tl.capacity : 0;
      }

      // Decide.
      out.slot = <u32>slot;
      if (tooLarge) {
        out.status = Take.TooLarge;
        out.refusedTokens = true;
        out.requestsLevel = requests;
        out.tokensLevel = tokens;
        return out;
      }
      let granted = want.tokens;
      if (rl !== null && want.requests > 0 && requests < want.requests * UNIT) {
        out.refusedRequests = true;
        out.retryAfterMs = rl.msUntil(requests, want.requests * UNIT);
      }
      if (tl !== null && tokens < want.tokens * UNIT) {
        const whole = tokens / UNIT;
        if (want.minTokens < want.tokens && tokens >= want.minTokens * UNIT) {
          granted = want.baseTokens + (whole - want.baseTokens) / want.stepTokens * want.stepTokens;
          if (granted < want.minTokens) granted = want.minTokens;
        } else {
          out.refusedTokens = true;
          const wait = tl.msUntil(tokens, want.minTokens * UNIT);
          if (wait > out.retryAfterMs) out.retryAfterMs = wait;
        }
      }
      if (out.refusedRequests || out.refusedTokens) {
        out.status = Take.Refused;
        out.requestsLevel = requests;
        out.tokensLevel = tokens;
        return out;
      }
      if (rl !== null) requests -= want.requests * UNIT;
      if (tl !== null) tokens -= granted * UNIT;

      rec.owner0 = id.lo;
      rec.owner1 = id.hi;
      rec.updatedMs = updated;
      rec.requests = requests;
      rec.tokens = tokens;
      rec.fullAtMs = fullAt(updated, limits, requests, tokens);
      encodeRecord(rec, changetype<usize>(this.writeBuf));
      const w = store.write(<u32>slot, changetype<usize>(this.writeBuf), cas);
      if (w == WriteStatus.Ok) {
        out.status = Take.Taken;
        out.granted = granted;
        out.requestsLevel = requests;
        out.tokensLevel = tokens;
        return out;
      }
      if (w != WriteStatus.Conflict) {
        out.status = Take.StoreError;
        return out;
      }
      out.conflicts++;
      out.refusedRequests = false;
      out.refusedTokens = false;
      out.retryAfterMs = 0;
    }
    out.status = Take.Contention;
    return out;
  }

  /**
   * Adds `requests` and `tokens` (whole units; negative takes) to bucket `id` in slot `slot`, at
   * time `nowMs`: a refund, or a debit when a response used more than was reserved.
   */
  give(slot: u32, id: BucketId, limits: BucketLimits, requests: i64, tokens: i64, nowMs: u64): Give {
    this.giveConflicts = 0;
    const rec = this.rec;
    const buf = changetype<usize>(this.readBuf);
    const store = this.store;
    const rl = limits.requests;
    const tl = limits.tokens;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (store.read(slot, buf) != ReadStatus.Ok) return Give.StoreError;
      if (decodeRecord(buf, store.length, rec) != SlotState.Owned || !rec.ownedBy(id)) return Give.Gone;
      const cas = store.cas;
      const elapsed = rec.updatedMs < nowMs ? <i64>(nowMs - rec.updatedMs) : 0;
      if (rec.updatedMs < nowMs) rec.updatedMs = nowMs;
      rec.requests = rl !== null ? rl.add(rl.refill(rec.requests, elapsed), requests * UNIT) : 0;
      rec.tokens = tl !== null ? tl.add(tl.refill(rec.tokens, elapsed), tokens * UNIT) : 0;
      rec.fullAtMs = fullAt(rec.updatedMs, limits, rec.requests, rec.tokens);
      encodeRecord(rec, changetype<usize>(this.writeBuf));
      const w = store.write(slot, changetype<usize>(this.writeBuf), cas);
      if (w == WriteStatus.Ok) {
        this.givenRequestsLevel = rec.requests;
        this.givenTokensLevel = rec.tokens;
        return Give.Done;
      }
      if (w != WriteStatus.Conflict) return Give.StoreError;
      this.giveConflicts++;
    }
    return Give.Contention;
  }
}

/** When every limited dimension of a bucket at these levels (as of `updatedMs`) is full. */
function fullAt(updatedMs: u64, limits: BucketLimits, requests: i64, tokens: i64): u64 {
  let wait: i64 = 0;
  const rl = limits.requests;
  if (rl !== null) wait = rl.msUntilFull(requests);
  const tl = limits.tokens;
  if (tl !== null) {
    const w = tl.msUntilFull(tokens);
    if (w > wait) wait = w;
  }
  return updatedMs + <u64>wait;
}
