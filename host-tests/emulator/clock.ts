// The fake clock and the one event queue of a Host. Everything Envoy would do later on a
// dispatcher (ticks, HTTP call answers and timeouts, queue notifications, upstream responses) is
// a timer here; work Envoy posts "for the next loop iteration" is a timer due now. Timers fire in
// order of due time, then of scheduling, and never inside a call into the guest.

export interface Timer {
  readonly dueMs: number;
  readonly label: string;
  cancel(): void;
}

interface Entry extends Timer {
  readonly seq: number;
  readonly fire: () => void;
  cancelled: boolean;
}

/** Envoy's steady clock has an arbitrary origin; this one starts at 1 s so 0 never appears. */
const MONOTONIC_ORIGIN_NS = 1_000_000_000n;

export class FakeClock {
  private ms: number;
  private readonly startMs: number;
  private queue: Entry[] = [];
  private seq = 0;

  constructor(startMs: number) {
    this.ms = startMs;
    this.startMs = startMs;
  }

  nowMs(): number {
    return this.ms;
  }

  /** Wall-clock time in ns since the epoch (`proxy_get_current_time_nanoseconds`, WASI realtime). */
  nowNanos(): bigint {
    return toNanos(this.ms);
  }

  /** WASI monotonic clock: only moves with `advance`. */
  monotonicNanos(): bigint {
    return MONOTONIC_ORIGIN_NS + toNanos(this.ms - this.startMs);
  }

  schedule(delayMs: number, label: string, fire: () => void): Timer {
    const entry: Entry = {
      dueMs: this.ms + Math.max(0, delayMs),
      label,
      seq: this.seq++,
      fire,
      cancelled: false,
      cancel() {
        entry.cancelled = true;
      },
    };
    // Keep the queue sorted; it is short, so insertion from the back is cheap.
    let at = this.queue.length;
    while (at > 0 && this.queue[at - 1].dueMs > entry.dueMs) at--;
    this.queue.splice(at, 0, entry);
    return entry;
  }

  /** Due time of the next live timer, if any. */
  nextDueMs(): number | undefined {
    this.dropCancelled();
    return this.queue.length > 0 ? this.queue[0].dueMs : undefined;
  }

  /** Live timers, for diagnostics. */
  pending(): Array<{ dueMs: number; label: string }> {
    this.dropCancelled();
    return this.queue.map((t) => ({ dueMs: t.dueMs, label: t.label }));
  }

  /** Fires every timer due at or before now (including ones those timers schedule for now). */
  runDue(): void {
    for (;;) {
      this.dropCancelled();
      const next = this.queue[0];
      if (next === undefined || next.dueMs > this.ms) return;
      this.queue.shift();
      next.fire();
    }
  }

  /** Moves time to `targetMs`, firing each timer at its own due time on the way. */
  advanceTo(targetMs: number): void {
    this.runDue();
    for (;;) {
      const due = this.nextDueMs();
      if (due === undefined || due > targetMs) break;
      this.ms = Math.max(this.ms, due);
      this.runDue();
    }
    this.ms = Math.max(this.ms, targetMs);
    this.runDue();
  }

  private dropCancelled(): void {
    while (this.queue.length > 0 && this.queue[0].cancelled) this.queue.shift();
  }
}

function toNanos(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1_000_000));
}
