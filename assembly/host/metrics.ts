// Envoy stats defined by the module. Names appear as `wasmcustom.<name>` in /stats; labels are
// encoded in the name and split out with `stats_tags`. Define metrics in `onConfigure`: Envoy
// forbids host calls other than logging while the module starts. Validity is tracked apart from
// the id because the ABI reserves no id as "invalid" (Envoy's happen to start at 4).

import { proxy_define_metric, proxy_get_metric, proxy_increment_metric, proxy_record_metric } from "../abi/imports";
import { MetricType, WasmResult } from "../abi/types";
import { OUT_U32, OUT_U64 } from "../runtime/memory";
import { setLastStatus } from "./status";

export class Metric {
  constructor(
    public readonly type: MetricType,
    public readonly name: string,
    public readonly id: u32,
    /** False when the host refused the definition; every operation then does nothing. */
    public readonly defined: bool,
  ) {}

  /** Adds `delta` (counters: > 0 only; gauges: any sign). */
  increment(delta: i64 = 1): WasmResult {
    if (!this.defined) return WasmResult.NotFound;
    return <WasmResult>proxy_increment_metric(this.id, delta);
  }

  /** Histograms: records a sample. Gauges: sets the value. Counters: adds. */
  record(value: u64): WasmResult {
    if (!this.defined) return WasmResult.NotFound;
    return <WasmResult>proxy_record_metric(this.id, value);
  }

  /** Current value (histograms have none), 0 on error (see `lastStatus`). */
  get(): u64 {
    if (!this.defined) {
      setLastStatus(WasmResult.NotFound);
      return 0;
    }
    store<u64>(OUT_U64, 0);
    const status = proxy_get_metric(this.id, OUT_U64);
    setLastStatus(status);
    return status == WasmResult.Ok ? load<u64>(OUT_U64) : 0;
  }
}

export function defineMetric(type: MetricType, name: string): Metric {
  const n = String.UTF8.encode(name);
  store<u32>(OUT_U32, 0);
  const status = proxy_define_metric(type, changetype<usize>(n), n.byteLength, OUT_U32);
  setLastStatus(status);
  return new Metric(type, name, load<u32>(OUT_U32), status == WasmResult.Ok);
}

export function defineCounter(name: string): Metric {
  return defineMetric(MetricType.Counter, name);
}

export function defineGauge(name: string): Metric {
  return defineMetric(MetricType.Gauge, name);
}

export function defineHistogram(name: string): Metric {
  return defineMetric(MetricType.Histogram, name);
}

/**
 * A name as a label value: characters other than letters, digits, '_' and '-' become '_', so a
 * `.` or `/` in a model name cannot split the stat name. (`llama-3.1` is reported as `llama-3_1`.)
 */
export function metricLabel(name: string): string {
  let out = "";
  let clean = true;
  for (let i = 0; i < name.length; i++) {
    if (!labelChar(name.charCodeAt(i))) {
      clean = false;
      break;
    }
  }
  if (clean) return name;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    out += labelChar(c) ? String.fromCharCode(c) : "_";
  }
  return out;
}

function labelChar(c: i32): bool {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f || c == 0x2d;
}
