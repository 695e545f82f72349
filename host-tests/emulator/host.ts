// The Envoy process as tests see it: one fake clock and event loop, the process-wide stores
// (shared data, shared queues, stats), the clusters HTTP calls can reach, logs, and the VMs.
// Each `loadVm` is one more worker: a fresh instance of the module with its own contexts, ids,
// ticks and metric ids, sharing the stores with the others.

import { readFile } from "node:fs/promises";
import path from "node:path";
import { FakeClock } from "./clock";
import type { ContextBase } from "./context-base";
import { Clusters, type ClusterHandler, type ClusterOptions, type HttpCallRecord } from "./http-calls";
import { LogSink, type LogEntry, type LogQuery } from "./logs";
import { MetricStore } from "./metrics";
import { Plugin } from "./plugin";
import { SeededRandom } from "./random";
import { runRequest, type RequestInit, type RequestOptions, type RequestResult } from "./request";
import { SharedDataStore, type ConflictInjection, type GuestSet } from "./shared-data";
import { SharedQueues } from "./shared-queue";
import { Stream, type StreamOptions } from "./stream";
import {
  WasmResult, fromUtf8, toBytes, type BodyInit, type LogLevelName, type WasmResultCode,
} from "./types";
import { Vm, type VmOptions } from "./vm";

export interface HostOptions {
  /** Envoy's log level for the wasm logger (what proxy_get_log_level reports). Default "info". */
  logLevel?: LogLevelName;
  /** Wall-clock start in ms since the epoch. Default 2026-01-01T00:00:00Z. */
  now?: number;
  /** Seed of WASI random_get and generated ids. Default 1. */
  seed?: number;
  /** per_connection_buffer_limit_bytes. Default 1 MiB. */
  bufferLimitBytes?: number;
  /** Route timeout after the request is complete; 0 disables. Default 15 s (Envoy's). */
  routeTimeoutMs?: number;
  /** How long plugin.request() lets a stalled stream wait. Default 60 s of fake time. */
  clientTimeoutMs?: number;
  /**
   * "throw" (default): a trap throws an EmulatorTrapError out of whatever drove the guest.
   * "envoy": the VM is marked failed and Envoy's fail policy applies (503 "wasm_fail_stream", or
   * pass-through for failOpen plugins); traps are listed in `host.traps`.
   */
  trapPolicy?: "throw" | "envoy";
  /** Record every call into a guest in `host.guestCalls` (off by default: it costs time). */
  traceGuestCalls?: boolean;
}

export interface HostCallFailure {
  vm: string;
  function: string;
  status: number;
  statusName: string;
  contextId: number;
  rootId: string;
}

export interface TrapRecord {
  vm: string;
  function: string;
  message: string;
  error: Error;
}

export interface ForeignCall {
  name: string;
  argument: Uint8Array;
  vm: string;
  contextId: number;
  rootId: string;
}

/** A foreign function: return data (or nothing) for Ok, or an explicit result. */
export type ForeignFunction = (
  argument: Uint8Array,
  context: ContextBase,
) => Uint8Array | string | void | { result: WasmResultCode; data?: Uint8Array };

export interface SharedValueView {
  value: string;
  bytes: Uint8Array;
  cas: number;
}

export interface FilterChain {
  request(init?: RequestInit, options?: RequestOptions): Promise<RequestResult>;
  newStream(options?: StreamOptions): Stream;
}

type ResolvedOptions = Required<Omit<HostOptions, "logLevel" | "now" | "seed" | "traceGuestCalls">>;

export class Host {
  readonly options: ResolvedOptions;
  readonly clock: FakeClock;
  readonly random: SeededRandom;
  readonly logSink: LogSink;
  readonly metricStore = new MetricStore();
  readonly sharedDataStore = new SharedDataStore();
  readonly queueStore: SharedQueues;
  readonly clusters = new Clusters();
  readonly vms: Vm[] = [];
  /** Every host call that answered something other than Ok. */
  readonly hostCallFailures: HostCallFailure[] = [];
  /** Host calls a module made while starting, which Envoy refuses (the VM traps). */
  readonly restrictedCalls: Array<{ vm: string; importName: string }> = [];
  readonly traps: TrapRecord[] = [];
  /** Questionable ABI use the emulator noticed (e.g. continuing a stream that is not paused). */
  readonly warnings: string[] = [];
  readonly httpCallLog: HttpCallRecord[] = [];
  readonly foreignCalls: ForeignCall[] = [];
  readonly propertyOverrides = new Map<string, Uint8Array>();
  /** Every call into a guest as "name(args)", when `traceGuestCalls` is on; else null. */
  readonly guestCalls: Array<{ vm: string; call: string }> | null;

  private readonly modules = new Map<string, Promise<WebAssembly.Module>>();
  private readonly foreignFunctions = new Map<string, ForeignFunction>();
  private readonly canaryVerdicts = new WeakMap<WebAssembly.Module, Map<string, boolean>>();
  private vmCount = 0;
  private connectionCount = 0;

  constructor(options: HostOptions = {}) {
    this.options = {
      bufferLimitBytes: options.bufferLimitBytes ?? 1024 * 1024,
      routeTimeoutMs: options.routeTimeoutMs ?? 15_000,
      clientTimeoutMs: options.clientTimeoutMs ?? 60_000,
      trapPolicy: options.trapPolicy ?? "throw",
    };
    this.clock = new FakeClock(options.now ?? Date.UTC(2026, 0, 1));
    this.random = new SeededRandom(options.seed ?? 1);
    this.logSink = new LogSink(options.logLevel ?? "info");
    this.guestCalls = options.traceGuestCalls ? [] : null;
    this.queueStore = new SharedQueues((label, fn) => this.clock.schedule(0, label, fn));
    // Envoy 1.33+ (source/extensions/common/wasm/foreign.cc).
    this.registerForeignFunction("clear_route_cache", (_argument, context) => {
      context.clearRouteCache();
    });
  }

  get trapPolicy(): "throw" | "envoy" {
    return this.options.trapPolicy;
  }

  // ---- VMs and plugins ----

  /** A new worker VM running the module at `source` (a path, bytes, or a compiled module). */
  async loadVm(source: string | Uint8Array | WebAssembly.Module, options: VmOptions = {}): Promise<Vm> {
    const module = await this.compile(source);
    const vm = new Vm(this, module, options, options.name ?? `vm${++this.vmCount}`);
    vm.start();
    this.vms.push(vm);
    this.settle();
    return vm;
  }

  private compile(source: string | Uint8Array | WebAssembly.Module): Promise<WebAssembly.Module> {
    if (source instanceof WebAssembly.Module) return Promise.resolve(source);
    if (source instanceof Uint8Array) return WebAssembly.compile(source.slice());
    const file = path.resolve(source);
    let module = this.modules.get(file);
    if (module === undefined) {
      module = readFile(file).then((bytes) => WebAssembly.compile(bytes));
      this.modules.set(file, module);
    }
    return module;
  }

  /**
   * Envoy's configuration canary (WasmHandleBase::canary): a throw-away clone starts and
   * configures the plugin; the verdict is cached per VM key and plugin key. Its shared-data writes
   * stay; its ticks, calls and contexts go with it.
   */
  runCanary(plugin: Plugin): boolean {
    const vm = plugin.vm;
    let verdicts = this.canaryVerdicts.get(vm.module);
    if (verdicts === undefined) {
      verdicts = new Map();
      this.canaryVerdicts.set(vm.module, verdicts);
    }
    const key = `${vm.vmId}|${fromUtf8(vm.vmConfig)}|${plugin.key}`;
    const known = verdicts.get(key);
    if (known !== undefined) return known;
    const canary = new Vm(this, vm.module, { vmId: vm.vmId, vmConfig: vm.vmConfig, env: { ...vm.env } }, `${vm.label}-canary`, true);
    canary.start();
    const probe = new Plugin(canary, { ...plugin.options, canary: false });
    canary.plugins.push(probe);
    probe.start();
    const verdict = probe.configured;
    canary.discard();
    verdicts.set(key, verdict);
    return verdict;
  }

  /** Called by a VM that closed: a vm_id's shared data and queues go with its last VM. */
  vmClosed(vm: Vm): void {
    if (this.vms.some((v) => v !== vm && !v.closed && v.vmId === vm.vmId)) return;
    this.sharedDataStore.deleteVmId(vm.vmId);
    this.queueStore.deleteVmId(vm.vmId);
  }

  /** A filter chain of several plugins (decode order), for requests through all of them. */
  chain(...plugins: Plugin[]): FilterChain {
    return {
      request: (init = {}, options = {}) => runRequest(this, plugins, init, options),
      newStream: (options = {}) => new Stream(this, plugins, options),
    };
  }

  // ---- clusters and foreign functions ----

  /** A cluster proxy_http_call can reach; the handler answers each call. */
  addCluster(name: string, handler: ClusterHandler, options: ClusterOptions = {}): void {
    this.clusters.add(name, handler, options);
  }

  removeCluster(name: string): void {
    this.clusters.remove(name);
  }

  registerForeignFunction(name: string, fn: ForeignFunction): void {
    this.foreignFunctions.set(name, fn);
  }

  callForeignFunction(name: string, argument: Uint8Array, context: ContextBase): { result: WasmResultCode; data?: Uint8Array } {
    this.foreignCalls.push({ name, argument, vm: context.vm.label, contextId: context.id, rootId: context.rootId });
    const fn = this.foreignFunctions.get(name);
    if (fn === undefined) return { result: WasmResult.NotFound };
    const out = fn(argument, context);
    if (out === undefined) return { result: WasmResult.Ok };
    if (typeof out === "string" || out instanceof Uint8Array) return { result: WasmResult.Ok, data: toBytes(out) };
    return out;
  }

  // ---- time ----

  get now(): number {
    return this.clock.nowMs();
  }

  /** Runs everything due now (posted work, answers due at this instant). */
  settle(): void {
    this.clock.runDue();
  }

  /** Moves fake time forward, firing ticks, HTTP call answers and timeouts at their due times. */
  advance(ms: number): void {
    this.clock.advanceTo(this.clock.nowMs() + ms);
  }

  advanceTo(ms: number): void {
    this.clock.advanceTo(ms);
  }

  /** Runs proxy_on_tick once for every root context with an armed tick, in every VM. */
  tick(): void {
    for (const vm of this.vms) {
      if (vm.closed) continue;
      for (const plugin of vm.plugins) if (plugin.tickArmed) plugin.root!.onTick();
    }
    this.settle();
  }

  // ---- observation ----

  get logLevel(): LogLevelName {
    return this.logSink.level;
  }

  set logLevel(level: LogLevelName) {
    this.logSink.level = level;
  }

  logs(query: LogQuery = {}): LogEntry[] {
    return this.logSink.query(query);
  }

  /** Counter or gauge value of a stat (name with or without `wasmcustom.`); undefined if never defined. */
  metric(name: string): number | undefined {
    const stat = this.metricStore.find(name);
    if (stat === undefined) return undefined;
    return stat.kind === "histogram" ? stat.samples.length : Number(stat.value);
  }

  /** Samples recorded into a histogram. */
  histogram(name: string): number[] {
    return (this.metricStore.find(name, "histogram")?.samples ?? []).map(Number);
  }

  /** Every stat: counters and gauges as numbers, histograms as their samples. */
  metrics(): Record<string, number | number[]> {
    const out: Record<string, number | number[]> = {};
    for (const stat of this.metricStore.all()) {
      out[stat.name] = stat.kind === "histogram" ? stat.samples.map(Number) : Number(stat.value);
    }
    return out;
  }

  /** Host calls that answered `status` (a name like "BadArgument"), optionally of one function. */
  failedCalls(filter: { function?: string; status?: string } = {}): HostCallFailure[] {
    return this.hostCallFailures.filter(
      (f) => (filter.function === undefined || f.function === filter.function) && (filter.status === undefined || f.statusName === filter.status),
    );
  }

  readonly sharedData = {
    get: (key: string, vmId = ""): SharedValueView | undefined => {
      const v = this.sharedDataStore.get(vmId, key);
      return v === undefined ? undefined : { value: fromUtf8(v.bytes), bytes: v.bytes, cas: v.cas };
    },
    /** Writes as another worker would (same CAS rules); returns the result code. */
    set: (key: string, value: BodyInit, options: { vmId?: string; cas?: number } = {}): WasmResultCode =>
      this.sharedDataStore.set(options.vmId ?? "", key, toBytes(value), options.cas ?? 0),
    keys: (vmId = ""): string[] => this.sharedDataStore.keys(vmId),
    /** Makes the next conditional guest write(s) lose a CAS race. */
    injectCasConflict: (conflict: ConflictInjection = {}): void => this.sharedDataStore.inject(conflict),
    /** Runs `hook` before each guest write; returns a remover. */
    onGuestSet: (hook: (set: GuestSet) => void): (() => void) => this.sharedDataStore.onGuestSet(hook),
  };

  readonly queues = {
    /** Enqueues as a producer in another VM would; proxy_on_queue_ready follows on the event loop. */
    enqueue: (vmId: string, name: string, data: BodyInit): WasmResultCode => {
      const token = this.queueStore.resolve(vmId, name);
      return token === 0 ? WasmResult.NotFound : this.queueStore.enqueue(token, toBytes(data));
    },
    /** Items still waiting, decoded as UTF-8. */
    items: (vmId: string, name: string): string[] => this.queueStore.items(vmId, name).map(fromUtf8),
    resolve: (vmId: string, name: string): number => this.queueStore.resolve(vmId, name),
  };

  /**
   * Sets a property every context reads (checked before Envoy's own), e.g.
   * setProperty(["node", "id"], "envoy-1"). A bigint is stored as 8 little-endian bytes (int64).
   */
  setProperty(pathSegments: string | string[], value: BodyInit | bigint): void {
    const key = (Array.isArray(pathSegments) ? pathSegments : [pathSegments]).join("\0");
    if (typeof value === "bigint") {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigInt64(0, value, true);
      this.propertyOverrides.set(key, bytes);
    } else {
      this.propertyOverrides.set(key, toBytes(value));
    }
  }

  // ---- called by the emulator's parts ----

  warn(message: string, context: ContextBase | null): void {
    this.warnings.push(message);
    this.logSink.add({
      level: "warn",
      message: `emulator: ${message}`,
      source: "emulator",
      vm: context?.vm.label ?? "",
      rootId: context?.rootId ?? "",
      contextId: context?.id ?? 0,
      timeMs: this.clock.nowMs(),
    });
  }

  noteTrap(trap: TrapRecord): void {
    this.traps.push(trap);
    this.logSink.add({
      level: "critical",
      message: `emulator: ${trap.message.split("\n")[0]}`,
      source: "emulator",
      vm: trap.vm,
      rootId: "",
      contextId: 0,
      timeMs: this.clock.nowMs(),
    });
  }

  nextConnectionId(): number {
    return ++this.connectionCount;
  }
}
