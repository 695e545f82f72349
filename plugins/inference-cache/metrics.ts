// The cache's Envoy stats, defined in onConfigure. Labels are `.<label>=<value>` name segments
// (bootstrap `stats_tags` turn them into tags); their values come from fixed lists (tiers,
// reasons, operations), never from a request, so the number of stats is fixed.

import { Metric, defineCounter, defineHistogram } from "../../assembly/index";
import { REASONS, Reason, CacheStatus } from "./policy";

export const PREFIX = "inference_cache.";

/** Where a hit came from, and where a store went. */
export enum Tier { Local, Shared }
export const TIER_NAMES: string[] = ["local", "shared"];

/** What the shared tier was asked to do. */
export enum SharedOp { Read, Write }
export const SHARED_OP_NAMES: string[] = ["read", "write"];

export class CacheMetrics {
  /** By Tier. */
  hits: Metric[] = [];
  /** Looked up and not found (any MISS reason), then sent upstream. */
  misses: Metric;
  /** Sent upstream without a lookup because the client asked (no-cache). */
  refreshes: Metric;
  /** By Reason (BYPASS reasons only; others stay unused): neither looked up nor stored. */
  bypasses: Metric[] = [];
  /** By Reason (response reasons only): a response that was not stored, and why. */
  notStored: Metric[] = [];
  /** By Tier: entries written. */
  stores: Metric[] = [];
  /** A store replaced another key's entry in its slot. */
  evictions: Metric;
  /** Bytes of records written to the local tier. */
  storedBytes: Metric;
  /** By SharedOp: the shared tier failed or timed out (the request went on as a miss). */
  sharedErrors: Metric[] = [];
  /** Milliseconds of a shared-tier read, answered or not. */
  sharedReadMs: Metric;

  constructor() {
    this.misses = defineCounter(PREFIX + "misses");
    this.refreshes = defineCounter(PREFIX + "refreshes");
    this.evictions = defineCounter(PREFIX + "evictions");
    this.storedBytes = defineCounter(PREFIX + "stored_bytes");
    this.sharedReadMs = defineHistogram(PREFIX + "shared_read_ms");
    for (let t = 0; t < TIER_NAMES.length; t++) {
      this.hits.push(defineCounter(PREFIX + "hits.tier=" + unchecked(TIER_NAMES[t])));
      this.stores.push(defineCounter(PREFIX + "stores.tier=" + unchecked(TIER_NAMES[t])));
    }
    for (let i = 0; i < REASONS.length; i++) {
      const info = unchecked(REASONS[i]);
      const bypass = info.status == CacheStatus.Bypass;
      const response = i >= <i32>Reason.StatusNotCacheable;
      // Unused rows keep a placeholder so that the arrays stay indexed by Reason.
      this.bypasses.push(bypass ? defineCounter(PREFIX + "bypasses.reason=" + info.name) : this.misses);
      this.notStored.push(response ? defineCounter(PREFIX + "not_stored.reason=" + info.name) : this.misses);
    }
    for (let i = 0; i < SHARED_OP_NAMES.length; i++) {
      this.sharedErrors.push(defineCounter(PREFIX + "shared_errors.op=" + unchecked(SHARED_OP_NAMES[i])));
    }
  }

  bypassed(reason: Reason): void {
    const r = <i32>reason;
    if (r >= 0 && r < REASONS.length && unchecked(REASONS[r]).status == CacheStatus.Bypass) unchecked(this.bypasses[r]).increment(1);
  }

  notStoredBecause(reason: Reason): void {
    const r = <i32>reason;
    if (r >= <i32>Reason.StatusNotCacheable && r < REASONS.length) unchecked(this.notStored[r]).increment(1);
  }
}
