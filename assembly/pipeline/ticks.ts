// One root context has one tick period, but the stage roots it runs each want their own (the
// prober's `tick_ms`, the router's `health_refresh_ms`). The root context ticks at the shortest
// one; a stage whose period is that one ticks every time, a longer one at the last tick before
// its period would pass, so it is never late (a lease renewed, a health cache refreshed within
// its period) and at most one armed period early when the periods do not divide. Pure: the
// caller reads the clock, and only when a longer period needs it.

export class TickSchedule {
  /** The period to arm (ms): the shortest wanted, 0 when no stage wants ticks. */
  readonly armed: u32;
  /** Whether a tick needs the clock to decide (some stage's period is longer than the armed one). */
  readonly needsClock: bool;
  private periods: StaticArray<u32>;
  private last: StaticArray<u64>;

  /** `periods[i]`: what stage root `i` wants (0: no ticks); `nowMs`: when they are armed. */
  constructor(periods: u32[], nowMs: u64) {
    const n = periods.length;
    this.periods = new StaticArray<u32>(n);
    this.last = new StaticArray<u64>(n);
    let armed: u32 = 0;
    for (let i = 0; i < n; i++) {
      const p = unchecked(periods[i]);
      unchecked((this.periods[i] = p));
      unchecked((this.last[i] = nowMs));
      if (p > 0 && (armed == 0 || p < armed)) armed = p;
    }
    this.armed = armed;
    let longer = false;
    for (let i = 0; i < n; i++) longer = longer || unchecked(periods[i]) > armed;
    this.needsClock = longer;
  }

  /**
   * At a tick of the root context (at `nowMs`, or 0 when `needsClock` is false): whether stage
   * root `i` ticks now. A longer period ticks when waiting for the next armed tick would take it
   * past its period.
   */
  due(i: i32, nowMs: u64): bool {
    if (i < 0 || i >= this.periods.length) return false;
    const p = unchecked(this.periods[i]);
    if (p == 0) return false;
    if (p == this.armed) return true;
    const last = unchecked(this.last[i]);
    // A clock that went backwards restarts the wait.
    if (nowMs < last || nowMs - last + <u64>this.armed > <u64>p) {
      unchecked((this.last[i] = nowMs));
      return nowMs >= last;
    }
    return false;
  }
}
