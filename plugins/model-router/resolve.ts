// Resolution of a (model, requested version) to one version: explicit versions and aliases,
// weighted splits over 10,000 sticky buckets, ramp-in and fallback. Pure: the caller passes the
// bucket and each version's readiness, so tables of cases test it without a host.

import { FNV64_OFFSET, fnv1a64Byte, fnv1a64String, fnv1a64Update, mix64 } from "../../assembly/hash/fnv";
import { RAMP_SCALE } from "../../assembly/health/record";

export const BUCKETS: u32 = 10_000;
/** Buckets per percentage point of weight. */
export const BUCKETS_PER_PERCENT: u32 = BUCKETS / 100;

export class VersionEntry {
  /** Bucket range [rangeStart, rangeEnd) of the split, contiguous in config order. */
  rangeStart: u32 = 0;
  rangeEnd: u32 = 0;
  /** Indices (into the model's versions) tried in order when this version is not ready. */
  fallback: i32[] = [];

  /** `cluster` as UTF-8, the value of the cluster header on every request routed here. */
  readonly clusterBytes: ArrayBuffer;
  /** `name` as UTF-8, the value of x-ai-model-version on every request routed here. */
  readonly nameBytes: ArrayBuffer;

  constructor(
    public name: string,
    public cluster: string,
    /** Model name the upstream expects in the body; "" sends the router's model name. */
    public upstreamModel: string,
    /** Percent of unversioned traffic, 0..100. */
    public weight: u32,
  ) {
    this.clusterBytes = String.UTF8.encode(cluster);
    this.nameBytes = String.UTF8.encode(name);
  }
}

export class ModelEntry {
  versions: VersionEntry[] = [];
  /** Version and alias names to version indices. */
  lookup: Map<string, i32> = new Map<string, i32>();
  aliasNames: string[] = [];
  aliasTargets: i32[] = [];

  constructor(
    public name: string,
    /** Position in the routing table (metrics and health cache index by it). */
    public index: i32,
    public ownedBy: string,
    public created: i64,
  ) {
    this.nameBytes = String.UTF8.encode(name);
  }

  /** The name as UTF-8, for lookups of a name read in place from a request (`findModelAt`). */
  readonly nameBytes: ArrayBuffer;
  /** Version and alias names in the order added, as strings and UTF-8 (`findAt`). */
  private lookupNames: string[] = [];
  private lookupBytes: ArrayBuffer[] = [];

  /** Index of a version or alias name, or -1. */
  find(name: string): i32 {
    return this.lookup.has(name) ? this.lookup.get(name) : -1;
  }

  /** Makes version or alias `name` resolve to version `index`. */
  addName(name: string, index: i32): void {
    this.lookup.set(name, index);
    this.lookupNames.push(name);
    this.lookupBytes.push(String.UTF8.encode(name));
  }

  /**
   * The version or alias name (as configured) whose UTF-8 is the `len` bytes at `ptr`, or null:
   * a request's version read in place, compared without decoding it.
   */
  findAt(ptr: usize, len: i32): string | null {
    const names = this.lookupBytes;
    for (let i = 0; i < names.length; i++) {
      const b = unchecked(names[i]);
      if (b.byteLength == len && memory.compare(changetype<usize>(b), ptr, <usize>len) == 0) return unchecked(this.lookupNames[i]);
    }
    return null;
  }

  /** Version whose split range holds `bucket`; -1 when weights are all zero (never after validation). */
  versionForBucket(bucket: u32): i32 {
    const versions = this.versions;
    for (let i = 0; i < versions.length; i++) {
      const v = unchecked(versions[i]);
      if (bucket >= v.rangeStart && bucket < v.rangeEnd) return i;
    }
    return -1;
  }
}

/** Per-version readiness the caller supplies: `ready` and a ramp in 1/10,000. */
export class Readiness {
  constructor(public ready: bool, public rampPermyriad: u32) {}
}

export enum ResolveStatus { Ok, UnknownVersion, NoReadyVersion }

export class Resolution {
  constructor(
    public status: ResolveStatus,
    /** Chosen version index (valid when status is Ok). */
    public version: i32,
    /** Version first picked (explicit, alias or split) before any fallback. */
    public picked: i32,
  ) {}

  set(status: ResolveStatus, version: i32, picked: i32): Resolution {
    this.status = status;
    this.version = version;
    this.picked = picked;
    return this;
  }
}

/**
 * Picks the version for one request. `requested` is a version or alias name, or "" for the split.
 * `readiness[i]` describes `model.versions[i]`. An explicit version ignores ramps (the client asked
 * for it); in the split, a ramping version keeps the first `ramp` share of its bucket range and
 * the rest of its range goes to its fallback, so a growing ramp only moves buckets onto it; with
 * no ready fallback the version keeps its whole range.
 */
export function resolveVersion(
  model: ModelEntry, requested: string, bucket: u32, readiness: Readiness[],
  /** Filled in and returned (a stage passes its own, to allocate nothing); null for a new one. */
  into: Resolution | null = null,
): Resolution {
  const out = into !== null ? into : new Resolution(ResolveStatus.Ok, -1, -1);
  let picked: i32;
  let ready: bool;
  let usable: bool;
  if (requested.length > 0) {
    picked = model.find(requested);
    if (picked < 0) return out.set(ResolveStatus.UnknownVersion, -1, -1);
    ready = isReady(readiness, picked);
    usable = ready;
  } else {
    picked = model.versionForBucket(bucket);
    if (picked < 0) return out.set(ResolveStatus.NoReadyVersion, -1, -1);
    ready = isReady(readiness, picked);
    usable = ready && withinRamp(unchecked(model.versions[picked]), bucket, rampOf(readiness, picked));
  }
  if (usable) return out.set(ResolveStatus.Ok, picked, picked);
  const fallback = unchecked(model.versions[picked]).fallback;
  for (let i = 0; i < fallback.length; i++) {
    const candidate = unchecked(fallback[i]);
    if (isReady(readiness, candidate)) return out.set(ResolveStatus.Ok, candidate, picked);
  }
  // A ramp moves traffic to where it can go and never refuses it: a ready version outside its
  // ramp with no ready fallback (a model's only version back from an outage) serves itself.
  if (ready) return out.set(ResolveStatus.Ok, picked, picked);
  return out.set(ResolveStatus.NoReadyVersion, -1, picked);
}

/** True when `bucket` lies in the ramped-in part of the version's range. */
export function withinRamp(version: VersionEntry, bucket: u32, rampPermyriad: u32): bool {
  if (rampPermyriad >= RAMP_SCALE) return true;
  const width = <u64>(version.rangeEnd - version.rangeStart);
  const offset = <u64>(bucket - version.rangeStart);
  return offset * <u64>RAMP_SCALE < width * <u64>rampPermyriad;
}

function isReady(readiness: Readiness[], index: i32): bool {
  return index >= 0 && index < readiness.length && unchecked(readiness[index]).ready;
}

function rampOf(readiness: Readiness[], index: i32): u32 {
  return index >= 0 && index < readiness.length ? unchecked(readiness[index]).rampPermyriad : RAMP_SCALE;
}

/**
 * The sticky bucket of `key` for `model`: FNV-1a over `model`, a NUL byte and `key` (UTF-8),
 * mixed, modulo 10,000. The model name salts the hash so that one client is not in every model's
 * canary at once.
 */
export function stickyBucket(model: string, key: string): u32 {
  let h = fnv1a64String(FNV64_OFFSET, model);
  h = fnv1a64Byte(h, 0);
  h = fnv1a64String(h, key);
  return <u32>(mix64(h) % <u64>BUCKETS);
}

/** `stickyBucket` of a key given as its UTF-8 bytes (`len` at `ptr`, e.g. a header value in place). */
export function stickyBucketOfBytes(model: string, ptr: usize, len: i32): u32 {
  let h = fnv1a64String(FNV64_OFFSET, model);
  h = fnv1a64Byte(h, 0);
  h = fnv1a64Update(h, ptr, <usize>len);
  return <u32>(mix64(h) % <u64>BUCKETS);
}
