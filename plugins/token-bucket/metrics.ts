// The filter's Envoy stats, one table (STATS) that the code, the README and the tests read.
// Defined in onConfigure. Labels are `.<label>=<value>` name segments (bootstrap `stats_tags` turn
// them into tags) whose values come from fixed lists, so the number of stats is fixed.

import { Metric, defineCounter } from "../../assembly/index";

export const PREFIX = "token_bucket.";

/** Every stat, in STATS order. */
export enum Stat {
  Admitted,
  LimitedRequests, LimitedTokens, LimitedTooLarge,
  ShadowLimitedRequests, ShadowLimitedTokens, ShadowLimitedTooLarge,
  Unlimited,
  Invalid,
  UnavailableContention, UnavailableTableFull, UnavailableSharedData,
  TokensReserved,
  TokensSettled,
  Refunds,
  Debits,
  Unsettled,
  SettlementsLost,
  Clamps,
  CasRetries,
}

export class StatSpec {
  constructor(public readonly name: string, public readonly meaning: string) {}
}

/** By Stat; all counters. The README's table lists the same rows, with these meanings (a test compares them). */
export const STATS: StatSpec[] = [
  new StatSpec("admitted", "Requests admitted with a reservation."),
  new StatSpec("limited.reason=requests", "Requests refused (429): the requests bucket is empty."),
  new StatSpec("limited.reason=tokens", "Requests refused (429): too few tokens left."),
  new StatSpec("limited.reason=too_large", "Requests refused (429): the reservation exceeds the tokens burst."),
  new StatSpec("shadow_limited.reason=requests", "In shadow mode: requests that would have been refused, passed uncharged."),
  new StatSpec("shadow_limited.reason=tokens", "In shadow mode: as above, for tokens."),
  new StatSpec("shadow_limited.reason=too_large", "In shadow mode: as above, for a reservation over the burst."),
  new StatSpec("unlimited", "Requests of a model without buckets (passed, not counted)."),
  new StatSpec("invalid", "Requests refused (400): max_tokens, max_completion_tokens, max_output_tokens or n is not a valid count, the tenant header came more than once, or a tunnel declared a body."),
  new StatSpec("unavailable.reason=contention", "Requests whose buckets lost every compare-and-swap (cas_retries): passed uncharged, or 503 with failure_mode_deny."),
  new StatSpec("unavailable.reason=table_full", "Requests whose bucket found no slot (every slot of its probe range busy): as above."),
  new StatSpec("unavailable.reason=shared_data", "Requests whose buckets could not be read or written: as above."),
  new StatSpec("tokens_reserved", "Tokens reserved at admission."),
  new StatSpec("tokens_settled", "Tokens charged in the end: the usage reported, or what the rules keep without one."),
  new StatSpec("refunds", "Settlements that gave tokens back (usage below the reservation)."),
  new StatSpec("debits", "Settlements that took more tokens (usage above the reservation)."),
  new StatSpec("unsettled", "Admitted requests whose reservation stands: a 2xx response that reported no usage, a tunnel's 101 (a WebSocket session), or one that never completed without usage (a response without usage whose status is not 2xx settles to 0 and is not counted here)."),
  new StatSpec("settlements_lost", "Settlements not applied: the bucket's slot was taken over, or compare-and-swap kept failing."),
  new StatSpec("clamps", "Requests served with their limit field lowered (or added) to what the buckets held (clamp_max_tokens)."),
  new StatSpec("cas_retries", "Compare-and-swaps lost to another worker (each is read and tried again, up to cas_retries times)."),
];

export class TokenBucketMetrics {
  private stats: Metric[] = [];

  constructor() {
    for (let i = 0; i < STATS.length; i++) this.stats.push(defineCounter(PREFIX + unchecked(STATS[i]).name));
  }

  add(stat: Stat, n: i64 = 1): void {
    if (n > 0) unchecked(this.stats[<i32>stat]).increment(n);
  }
}
