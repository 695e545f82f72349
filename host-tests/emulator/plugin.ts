// A plugin (one `config` of an envoy.filters.http.wasm filter: root_id, configuration, policy) in
// one VM, i.e. its root context. Start-up follows cpp-host: WasmBase::start creates the root
// context and calls onStart (proxy_on_context_create(root, 0), with plugin_root_id readable, then
// proxy_on_vm_start), then WasmBase::configure calls proxy_on_configure. With `canary: true`,
// Envoy's configuration canary runs first (WasmHandleBase::canary: a throw-away clone starts and
// configures the plugin, once per VM key and plugin); if it refuses, the plugin never starts here.

import type { RootContext } from "./root-context";
import { Stream, type StreamOptions } from "./stream";
import { runRequest, type RequestInit, type RequestOptions, type RequestResult } from "./request";
import { toBytes, utf8, type BodyInit } from "./types";
import type { Vm } from "./vm";

export interface PluginOptions {
  /** `root_id`: our layer picks the filter by it. Default "". */
  rootId?: string;
  /** `name` of the plugin config (property plugin_name); default the root id. */
  name?: string;
  /** `configuration`, passed to proxy_on_configure; an object is sent as JSON. Default "". */
  configuration?: BodyInit | object;
  /** Envoy >= 1.35 `allow_on_headers_stop_iteration`; default false, as in Envoy. */
  allowOnHeadersStopIteration?: boolean;
  /** `failure_policy: FAIL_OPEN`: a failed VM lets streams through instead of answering 503. */
  failOpen?: boolean;
  /** Run Envoy's configuration canary in a throw-away VM first. */
  canary?: boolean;
}

export class Plugin {
  readonly rootId: string;
  readonly name: string;
  readonly configuration: Uint8Array;
  readonly allowOnHeadersStopIteration: boolean;
  readonly failOpen: boolean;
  readonly useCanary: boolean;
  root: RootContext | null = null;
  /** proxy_on_vm_start answered true. */
  started = false;
  /** proxy_on_configure answered true (and the canary, if any, did too). */
  configured = false;
  /** teardown() was asked for while streams were live; it runs when the last one ends. */
  teardownRequested = false;
  /** The canary's verdict, when one ran (or was cached) for this plugin. */
  canaryConfigured: boolean | undefined;

  constructor(
    readonly vm: Vm,
    readonly options: PluginOptions,
  ) {
    this.rootId = options.rootId ?? "";
    this.name = options.name ?? this.rootId;
    const config = options.configuration;
    this.configuration =
      config === undefined || typeof config === "string" || config instanceof Uint8Array
        ? toBytes(config)
        : utf8(JSON.stringify(config));
    this.allowOnHeadersStopIteration = options.allowOnHeadersStopIteration ?? false;
    this.failOpen = options.failOpen ?? false;
    this.useCanary = options.canary ?? false;
  }

  /** Envoy's plugin key (root_id || configuration), used for the canary cache. */
  get key(): string {
    return `${this.rootId}||${Buffer.from(this.configuration).toString("base64")}||${this.allowOnHeadersStopIteration}`;
  }

  get rootContextId(): number {
    return this.root?.id ?? 0;
  }

  /** Whether a tick period is armed for this plugin's root context. */
  get tickArmed(): boolean {
    return this.root?.tickArmed ?? false;
  }

  start(): void {
    if (this.useCanary && !this.vm.canary) {
      this.canaryConfigured = this.vm.host.runCanary(this);
      if (!this.canaryConfigured) return;
    }
    const root = this.vm.createRootContext(this);
    this.root = root;
    this.started = root.onStart();
    this.configured = this.started && root.onConfigure();
  }

  /** Sends one request through this plugin and the router; see RequestInit / RequestResult. */
  request(init: RequestInit = {}, options: RequestOptions = {}): Promise<RequestResult> {
    return runRequest(this.vm.host, [this], init, options);
  }

  /** A stream driven step by step (no automatic upstream unless `options.upstream`). */
  newStream(options: StreamOptions = {}): Stream {
    return new Stream(this.vm.host, [this], options);
  }

  /** Runs proxy_on_tick once now, whether or not a period is armed. */
  tick(): void {
    this.root?.onTick();
    this.vm.host.settle();
  }

  /** Calls proxy_on_foreign_function with `data` readable as the CallData buffer. */
  foreignFunction(functionId: number, data: BodyInit = ""): void {
    this.root?.onForeignFunction(functionId, toBytes(data));
    this.vm.host.settle();
  }

  /**
   * Removes the plugin as Envoy does on a config change (WasmBase::startShutdown(plugin_key)):
   * proxy_on_done(root); if it returns true, proxy_on_delete(root) now, else when the module
   * calls proxy_done. Returns whether the root was deleted right away. Each stream holds the plugin
   * handle (Envoy Context's PluginHandleSharedPtr), so while streams of this plugin live the
   * shutdown waits and runs when the last one is destroyed.
   */
  teardown(): boolean {
    const root = this.root;
    if (root === null || root.state !== "active") return root?.deleted ?? false;
    if (this.vm.streamsOf(this) > 0) {
      this.teardownRequested = true;
      return false;
    }
    this.teardownRequested = false;
    if (root.onDone()) root.onDelete();
    else root.state = "pendingDone";
    this.vm.host.settle();
    return root.deleted;
  }

  /** "deleted" once proxy_on_delete ran for the root context. */
  get state(): RootContext["state"] | "not started" {
    return this.root?.state ?? "not started";
  }
}
