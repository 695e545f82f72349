// The baseline filter: lets every request and response through untouched. Benchmarks compare it
// with plain Envoy to measure what the ABI layer itself costs; it counts requests so tests can
// see that traffic crossed it.

import { FilterHeadersStatus, HttpContext, Metric, RootContext, defineCounter, logCritical, registerRootContext } from "../../assembly/index";

export const ROOT_ID = "noop";

class NoopRoot extends RootContext {
  requests: Metric | null = null;

  onConfigure(configuration: ArrayBuffer): bool {
    if (!isEmptyObject(configuration)) {
      logCritical("noop: configuration: expected an empty JSON object {} or nothing");
      return false;
    }
    this.requests = defineCounter("noop.requests_total");
    return true;
  }

  newHttpContext(id: u32): HttpContext {
    const requests = this.requests;
    // Unconfigured (Envoy never sends traffic then): pass everything through.
    if (requests === null) return new HttpContext(id);
    return new NoopStream(id, requests);
  }
}

class NoopStream extends HttpContext {
  constructor(id: u32, private requests: Metric) {
    super(id);
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatus {
    this.requests.increment(1);
    return FilterHeadersStatus.Continue;
  }
}

/** Accepts "", whitespace, or "{}" with any whitespace. */
function isEmptyObject(bytes: ArrayBuffer): bool {
  const data = Uint8Array.wrap(bytes);
  let seen = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) continue;
    if ((seen == 0 && c == 0x7b) || (seen == 1 && c == 0x7d)) {
      seen++;
      continue;
    }
    return false;
  }
  return seen == 0 || seen == 2;
}

export function register(): void {
  registerRootContext(ROOT_ID, (id: u32, rootId: string): RootContext => new NoopRoot(id, rootId));
}
