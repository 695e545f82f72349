// Stats defined by modules, with Envoy's rules (source/extensions/common/wasm/context.cc
// defineMetric/incrementMetric/recordMetric/getMetric):
// - The stat is process-wide and keyed by name (Envoy prefixes it with `wasmcustom.`), so the same
//   name defined in several VMs (workers) is one stat. Ids are per VM.
// - Ids follow cpp-host's scheme (include/proxy-wasm/wasm.h): the low two bits are the type and
//   each VM counts up in steps of 4 from the type, pre-incremented: the first counter is 4, the
//   first gauge 5, the first histogram 6. No valid id is 0..3.
// - Counter: increment needs offset > 0 (else BadArgument); record adds. Gauge: increment adds or
//   subtracts; record sets. Histogram: record only; increment is BadArgument and get is
//   BadArgument. An unknown id of a valid type is NotFound.
// Values are uint64 and wrap like Envoy's.

import { METRIC_KINDS, MetricType, WasmResult, type MetricKind, type WasmResultCode } from "./types";

const U64 = (1n << 64n) - 1n;
const TYPE_MASK = 0x3;
const ID_INCREMENT = 0x4;

export interface Stat {
  readonly kind: MetricKind;
  readonly name: string;
  /** Counter total or gauge value. */
  value: bigint;
  /** Histogram samples in recording order. */
  readonly samples: bigint[];
}

export class MetricStore {
  private readonly stats = new Map<string, Stat>();

  stat(kind: MetricKind, name: string): Stat {
    const key = `${kind}:${name}`;
    let stat = this.stats.get(key);
    if (stat === undefined) {
      stat = { kind, name, value: 0n, samples: [] };
      this.stats.set(key, stat);
    }
    return stat;
  }

  /** The stat called `name` (with or without Envoy's `wasmcustom.` prefix). */
  find(name: string, kind?: MetricKind): Stat | undefined {
    const bare = name.startsWith("wasmcustom.") ? name.slice("wasmcustom.".length) : name;
    for (const k of kind === undefined ? METRIC_KINDS : [kind]) {
      const stat = this.stats.get(`${k}:${bare}`);
      if (stat !== undefined) return stat;
    }
    return undefined;
  }

  all(): Stat[] {
    return [...this.stats.values()];
  }
}

/** One VM's metric ids. */
export class VmMetrics {
  private readonly next = [MetricType.Counter, MetricType.Gauge, MetricType.Histogram] as number[];
  private readonly byId = new Map<number, Stat>();

  constructor(private readonly store: MetricStore) {}

  define(type: number, name: string): { result: WasmResultCode; id: number } {
    if (type > MetricType.Histogram) return { result: WasmResult.BadArgument, id: 0 };
    const id = (this.next[type] += ID_INCREMENT) >>> 0;
    this.byId.set(id, this.store.stat(METRIC_KINDS[type], name));
    return { result: WasmResult.Ok, id };
  }

  increment(id: number, offset: bigint): WasmResultCode {
    const type = id & TYPE_MASK;
    if (type === MetricType.Counter) {
      const stat = this.byId.get(id);
      if (stat === undefined) return WasmResult.NotFound;
      if (offset <= 0n) return WasmResult.BadArgument;
      stat.value = (stat.value + offset) & U64;
      return WasmResult.Ok;
    }
    if (type === MetricType.Gauge) {
      const stat = this.byId.get(id);
      if (stat === undefined) return WasmResult.NotFound;
      stat.value = (stat.value + offset) & U64;
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }

  record(id: number, value: bigint): WasmResultCode {
    const stat = this.byId.get(id);
    if (stat === undefined || (id & TYPE_MASK) > MetricType.Histogram) return WasmResult.NotFound;
    if (stat.kind === "counter") stat.value = (stat.value + value) & U64;
    else if (stat.kind === "gauge") stat.value = value & U64;
    else stat.samples.push(value & U64);
    return WasmResult.Ok;
  }

  get(id: number): { result: WasmResultCode; value: bigint } {
    const type = id & TYPE_MASK;
    if (type !== MetricType.Counter && type !== MetricType.Gauge) return { result: WasmResult.BadArgument, value: 0n };
    const stat = this.byId.get(id);
    if (stat === undefined) return { result: WasmResult.NotFound, value: 0n };
    return { result: WasmResult.Ok, value: stat.value };
  }
}
