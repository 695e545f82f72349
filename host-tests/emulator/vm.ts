// One module instance, standing for one Envoy worker's VM clone (cpp-host WasmBase + WasmVm).
// It owns the contexts and their ids (one counter per VM starting at 1; 0 is the VM's own
// context), the current and effective context of a host call (cpp-host SaveRestoreContext: each
// call into the guest starts with no effective context), the "after VM call" actions Envoy defers
// until a callback returns (DeferAfterCallActions), the stop-iteration flag a local response
// sets, and the VM's failure state. A trap marks the VM failed and, by default, throws an
// EmulatorTrapError that names the call, carries the wasm stack and the last log lines.

import { VmContext, type ContextBase } from "./context-base";
import type { FilterManager } from "./filter-manager";
import type { Host } from "./host";
import { HttpCalls } from "./http-calls";
import { envImports } from "./imports-env";
import { wasiImports } from "./imports-wasi";
import { GuestMemory } from "./memory";
import { VmMetrics } from "./metrics";
import { Plugin, type PluginOptions } from "./plugin";
import { RootContext } from "./root-context";
import { StreamContext } from "./stream-context";
import { WasmResult, toBytes, wasmResultName, type BodyInit, type WasmResultCode } from "./types";

export type ExportName =
  | "_initialize" | "_start" | "main" | "__main_void" | "malloc"
  | "proxy_on_context_create" | "proxy_on_vm_start" | "proxy_on_configure" | "proxy_on_tick"
  | "proxy_on_queue_ready" | "proxy_on_foreign_function" | "proxy_on_request_headers"
  | "proxy_on_request_body" | "proxy_on_request_trailers" | "proxy_on_response_headers"
  | "proxy_on_response_body" | "proxy_on_response_trailers" | "proxy_on_log" | "proxy_on_done"
  | "proxy_on_delete" | "proxy_on_http_call_response";

export interface VmOptions {
  /** vm_config.vm_id: the shared-data and shared-queue namespace. Default "". */
  vmId?: string;
  /** vm_config.configuration, passed to proxy_on_vm_start. Default "". */
  vmConfig?: BodyInit;
  /** vm_config.environment_variables, seen through WASI environ_get. */
  env?: Record<string, string>;
  /** Label in logs and errors; default "vm<N>". */
  name?: string;
}

/** Thrown when the guest traps (or a host function throws inside a guest call). */
export class EmulatorTrapError extends Error {
  constructor(
    message: string,
    readonly vm: string,
    readonly functionName: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "EmulatorTrapError";
  }
}

/** What V8 raises for a host call made while the module starts (cpp-host v8.cc "restricted_callback"). */
export class RestrictedCallError extends WebAssembly.RuntimeError {
  constructor(readonly importName: string) {
    super(`restricted_callback: ${importName} may not be called while the module starts (_initialize/_start)`);
  }
}

// The calls a module may make while it starts (cpp-host WasmBase::startVm). Everything else traps.
const ALLOWED_AT_START = new Set([
  "env.emscripten_notify_memory_growth", "env.proxy_log", "fd_write", "args_sizes_get", "args_get",
  "environ_sizes_get", "environ_get", "clock_time_get", "clock_res_get", "random_get", "poll_oneoff",
  "fd_fdstat_get", "fd_fdstat_set_flags", "fd_advise", "fd_allocate", "fd_datasync", "fd_fdstat_set_rights",
  "fd_filestat_get", "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread", "fd_prestat_dir_name",
  "fd_prestat_get", "fd_pwrite", "fd_readdir", "fd_renumber", "fd_sync", "fd_tell", "path_create_directory",
  "path_filestat_get", "path_filestat_set_times", "path_link", "path_readlink", "path_remove_directory",
  "path_rename", "path_symlink", "path_unlink_file", "sock_accept", "sock_recv", "sock_send", "sock_shutdown",
]);

type GuestFunction = (...args: Array<number | bigint>) => unknown;

export class Vm {
  readonly vmId: string;
  readonly vmConfig: Uint8Array;
  readonly env: Readonly<Record<string, string>>;
  readonly abi: "0.2.0" | "0.2.1";
  readonly memory: GuestMemory;
  readonly metrics: VmMetrics;
  readonly httpCalls: HttpCalls;
  readonly plugins: Plugin[] = [];
  readonly vmContext: VmContext;
  /** Calls of each `env` host function so far (tests count what a request costs). */
  readonly hostCalls = new Map<string, number>();
  /** Host calls made while the module started that Envoy would have refused. */
  readonly restrictedCalls: string[] = [];
  failed = false;
  closed = false;
  /** cpp-host stop_iteration_: set by proxy_send_local_response, cleared after each callback. */
  stopIteration = false;

  private readonly fns = new Map<string, GuestFunction>();
  private readonly contexts = new Map<number, ContextBase>();
  private nextContextId = 1;
  private current: ContextBase | null = null;
  private effectiveId = 0;
  private readonly afterCallActions: Array<() => void> = [];
  private starting = false;

  constructor(
    readonly host: Host,
    readonly module: WebAssembly.Module,
    options: VmOptions,
    readonly label: string,
    /** A canary VM is thrown away after configuring one plugin; it does not count as a worker. */
    readonly canary = false,
  ) {
    this.vmId = options.vmId ?? "";
    this.vmConfig = toBytes(options.vmConfig);
    this.env = { ...(options.env ?? {}) };
    this.metrics = new VmMetrics(host.metricStore);
    this.httpCalls = new HttpCalls(this);
    this.vmContext = new VmContext(this, 0, null);

    const exportNames = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
    if (exportNames.has("proxy_abi_version_0_2_1")) this.abi = "0.2.1";
    else if (exportNames.has("proxy_abi_version_0_2_0")) this.abi = "0.2.0";
    else if (exportNames.has("proxy_abi_version_0_1_0")) throw new Error(`${label}: ABI 0.1.0 modules are not emulated`);
    else throw new Error(`${label}: Missing or unknown Proxy-Wasm ABI version (no proxy_abi_version_* export)`);

    const env = envImports(this);
    const wasi = wasiImports(this);
    const imports: Record<string, Record<string, unknown>> = { env, wasi_snapshot_preview1: wasi, wasi_unstable: wasi };
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imports[imp.module]?.[imp.name] === undefined) {
        throw new Error(`${label}: Failed to load Wasm module due to a missing import: ${imp.module}.${imp.name}`);
      }
    }
    const instance = new WebAssembly.Instance(module, imports as WebAssembly.Imports);
    for (const [name, value] of Object.entries(instance.exports)) {
      if (typeof value === "function") this.fns.set(name, value as GuestFunction);
    }
    const malloc = this.fns.get("malloc") ?? this.fns.get("proxy_on_memory_allocate");
    if (malloc === undefined) throw new Error(`${label}: Wasm module is missing malloc function.`);
    const memory = instance.exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) throw new Error(`${label}: the module exports no memory`);
    this.memory = new GuestMemory(memory, (size) => Number(malloc(size)));
  }

  /** cpp-host WasmBase::startVm: _initialize (then main or __main_void) or _start, restricted. */
  start(): void {
    const entry: ExportName[] = this.has("_initialize")
      ? ["_initialize", ...(this.has("main") ? (["main"] as const) : this.has("__main_void") ? (["__main_void"] as const) : [])]
      : this.has("_start")
        ? ["_start"]
        : [];
    this.starting = true;
    try {
      for (const name of entry) {
        this.call(this.vmContext, name, ...(name === "main" ? [0, 0] : []));
        if (this.failed) break;
      }
    } finally {
      this.starting = false;
    }
    if (this.failed) throw new Error(`${this.label}: Failed to initialize Wasm code`);
  }

  has(name: ExportName): boolean {
    return this.fns.has(name);
  }

  /**
   * Calls an export with `ctx` current and no effective context. Returns the i32 result as an
   * unsigned number, or undefined when the call trapped and the host does not throw on traps.
   */
  call(ctx: ContextBase, name: ExportName, ...args: number[]): number | undefined {
    const fn = this.fns.get(name);
    if (fn === undefined || this.failed || this.closed) return undefined;
    if (this.host.guestCalls !== null) this.host.guestCalls.push({ vm: this.label, call: `${name}(${args.join(", ")})` });
    const savedCurrent = this.current;
    const savedEffective = this.effectiveId;
    this.current = ctx;
    this.effectiveId = 0;
    try {
      const result = fn(...args);
      return typeof result === "number" ? result >>> 0 : 0;
    } catch (error) {
      this.onTrap(error, name, args);
      return undefined;
    } finally {
      this.current = savedCurrent;
      this.effectiveId = savedEffective;
    }
  }

  /** cpp-host DeferAfterCallActions around `fn`: afterwards clear the stop flag and run actions. */
  defer<T>(fn: () => T): T {
    let result: T;
    try {
      result = fn();
    } catch (error) {
      this.afterCallActions.length = 0;
      this.stopIteration = false;
      throw error;
    }
    this.stopIteration = false;
    this.runAfterCallActions();
    return result;
  }

  addAfterCallAction(action: () => void): void {
    this.afterCallActions.push(action);
  }

  runAfterCallActions(): void {
    for (let action = this.afterCallActions.shift(); action !== undefined; action = this.afterCallActions.shift()) action();
  }

  /** cpp-host contextOrEffectiveContext. */
  context(): ContextBase {
    const current = this.current ?? this.vmContext;
    if (this.effectiveId === 0) return current;
    return this.contexts.get(this.effectiveId) ?? current;
  }

  setEffectiveContext(id: number): WasmResultCode {
    if (id !== 0 && !this.contexts.has(id)) return WasmResult.BadArgument;
    this.effectiveId = id;
    return WasmResult.Ok;
  }

  /** Whether a host call `name` may run now; while starting, a refused call traps like V8. */
  checkRestricted(module: "env" | "wasi", name: string): void {
    if (!this.starting) return;
    const key = module === "env" ? `env.${name}` : name;
    if (ALLOWED_AT_START.has(key)) return;
    const full = module === "env" ? key : `wasi_snapshot_preview1.${name}`;
    this.restrictedCalls.push(full);
    this.host.restrictedCalls.push({ vm: this.label, importName: full });
    throw new RestrictedCallError(full);
  }

  /** Counts a host call that answered something other than Ok. */
  noteResult(name: string, code: number): number {
    if (code !== WasmResult.Ok) {
      const ctx = this.context();
      this.host.hostCallFailures.push({
        vm: this.label,
        function: name,
        status: code,
        statusName: wasmResultName(code),
        contextId: ctx.id,
        rootId: ctx.rootId,
      });
    }
    return code;
  }

  // ---- contexts ----

  private allocContextId(): number {
    while (this.contexts.has(this.nextContextId)) this.nextContextId++;
    return this.nextContextId++;
  }

  getContext(id: number): ContextBase | undefined {
    return this.contexts.get(id);
  }

  forgetContext(id: number): void {
    this.contexts.delete(id);
    if (this.effectiveId === id) this.effectiveId = 0;
  }

  /** Live stream contexts of `plugin`. */
  streamsOf(plugin: Plugin): number {
    let n = 0;
    for (const ctx of this.contexts.values()) if (ctx.plugin === plugin && ctx !== plugin.root) n++;
    return n;
  }

  /** Live contexts (roots and streams), for leak checks. */
  get liveContexts(): number {
    return this.contexts.size;
  }

  createRootContext(plugin: Plugin): RootContext {
    const root = new RootContext(this, this.allocContextId(), plugin);
    this.contexts.set(root.id, root);
    return root;
  }

  createStreamContext(plugin: Plugin, fm: FilterManager, slot: number): StreamContext {
    const root = plugin.root;
    if (plugin.vm !== this || root === null || root.state !== "active" || !plugin.configured) {
      throw new Error(`plugin ${plugin.rootId} in ${this.label} is not running (started=${plugin.started}, configured=${plugin.configured})`);
    }
    const ctx = new StreamContext(this, this.allocContextId(), plugin, root, fm, slot);
    this.contexts.set(ctx.id, ctx);
    return ctx;
  }

  // ---- plugins ----

  /** Starts a plugin (root context) in this VM: context_create(root, 0), vm_start, configure. */
  startPlugin(options: PluginOptions = {}): Plugin {
    if (this.closed || this.failed) throw new Error(`${this.label} is ${this.closed ? "closed" : "failed"}`);
    const plugin = new Plugin(this, options);
    this.plugins.push(plugin);
    plugin.start();
    this.host.settle();
    return plugin;
  }

  /** cpp-host WasmBase::done: a root that returned false from on_done may now be deleted. */
  done(ctx: ContextBase): WasmResultCode {
    const root = ctx.plugin?.root;
    if (root === null || root === undefined || root.state !== "pendingDone") return WasmResult.NotFound;
    // Deleted after the current callback returns, so on_delete never runs inside the done() call.
    root.state = "pendingDelete";
    this.addAfterCallAction(() => root.onDelete());
    return WasmResult.Ok;
  }

  /** SharedQueue's call_on_thread target. */
  queueReady(rootContextId: number, token: number): void {
    if (this.closed || this.failed) return;
    const ctx = this.contexts.get(rootContextId);
    if (ctx instanceof RootContext) ctx.onQueueReady(token);
  }

  /** Tears every plugin down (root on_done / on_delete) and drops the VM. */
  close(): void {
    if (this.closed) return;
    for (const plugin of this.plugins) if (plugin.root?.state === "active") plugin.teardown();
    this.closed = true;
    this.httpCalls.cancelAll();
    this.host.vmClosed(this);
  }

  /** Drops a canary VM: no teardown callbacks (Envoy just destroys it), its calls and ticks end. */
  discard(): void {
    this.closed = true;
    this.httpCalls.cancelAll();
  }

  /** Marks the VM failed and reports the trap; throws unless the host emulates Envoy's fail policy. */
  private onTrap(error: unknown, name: string, args: number[]): void {
    if (error instanceof EmulatorTrapError) {
      this.failed = true;
      throw error;
    }
    this.failed = true;
    const err = error instanceof Error ? error : new Error(String(error));
    const kind = err instanceof WebAssembly.RuntimeError ? "trapped" : "failed (a host function threw)";
    const frames = (err.stack ?? "").split("\n").filter((line) => line.includes("wasm"));
    const message =
      `${this.label} ${kind} in ${name}(${args.join(", ")}): ${err.message}\n` +
      `wasm stack:\n${frames.length > 0 ? frames.join("\n") : err.stack ?? "(none)"}\n` +
      `last log lines:\n${this.host.logSink.tail(20) || "(none)"}`;
    this.host.noteTrap({ vm: this.label, function: name, message, error: err });
    if (this.host.trapPolicy === "throw" || this.starting) {
      throw new EmulatorTrapError(message, this.label, name, { cause: err });
    }
  }
}
