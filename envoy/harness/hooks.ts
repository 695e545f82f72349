// Suite set-up that fails tests instead of skipping them. When a `beforeAll` hook throws, vitest
// marks the suite's tests skipped, so a missing tool (no docker-compose, no Envoy) would read as
// "nothing failed". This hook keeps the error and every test of the suite fails with it.
import { beforeAll, beforeEach } from "vitest";

/**
 * Like `beforeAll(fn)`, but when `fn` throws, each test in the suite (nested suites included)
 * fails with that error, e.g. a MissingToolError that names the install command.
 */
export function beforeAllOrFailEach(fn: () => Promise<unknown> | unknown, timeoutMs?: number): void {
  let failure: { error: unknown } | undefined;
  beforeAll(async () => {
    try {
      await fn();
    } catch (error) {
      failure = { error };
    }
  }, timeoutMs);
  beforeEach(() => {
    if (failure) throw failure.error;
  });
}
