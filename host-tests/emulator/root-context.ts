// A plugin's root context in one VM: cpp-host ContextBase's root-side calls (onStart,
// onConfigure, onTick, onQueueReady, onForeignFunction, onDone, onDelete) and Envoy's
// onHttpCallSuccess/onHttpCallFailure. Every call into the guest runs inside `vm.defer` (cpp-host
// DeferAfterCallActions), and is skipped once the VM has failed.

import { ContextBase, type CallResponse } from "./context-base";
import type { Timer } from "./clock";
import type { Plugin } from "./plugin";
import { EMPTY, WasmResult, truthy } from "./types";
import type { Vm } from "./vm";

export class RootContext extends ContextBase {
  readonly isRoot = true;
  state: "active" | "pendingDone" | "pendingDelete" | "deleted" = "active";
  private tickPeriodMs = 0;
  private tickTimer: Timer | null = null;

  constructor(vm: Vm, id: number, plugin: Plugin) {
    super(vm, id, plugin);
  }

  get root(): ContextBase {
    return this;
  }

  /** ContextBase::onStart: context_create(id, 0) with the plugin visible, then vm_start. */
  onStart(): boolean {
    const vm = this.vm;
    return vm.defer(() => {
      if (vm.has("proxy_on_context_create")) {
        this.tempPlugin = this.plugin;
        vm.call(this, "proxy_on_context_create", this.id, 0);
        this.inVmContextCreated = true;
        this.tempPlugin = null;
      }
      if (!vm.has("proxy_on_vm_start") || vm.failed) return !vm.failed;
      return truthy(vm.call(this, "proxy_on_vm_start", this.id, vm.vmConfig.length));
    });
  }

  /** ContextBase::onConfigure. */
  onConfigure(): boolean {
    const vm = this.vm;
    if (vm.failed) return true;
    if (!this.inVmContextCreated && vm.has("proxy_on_context_create")) {
      vm.defer(() => vm.call(this, "proxy_on_context_create", this.id, 0));
    }
    this.inVmContextCreated = true;
    if (!vm.has("proxy_on_configure")) return true;
    return vm.defer(() => {
      this.tempPlugin = this.plugin;
      const result = vm.call(this, "proxy_on_configure", this.id, this.plugin!.configuration.length);
      this.tempPlugin = null;
      return truthy(result);
    });
  }

  /** Wasm::setTimerPeriod (Envoy): re-arms this root's timer; 0 disarms it. */
  setTimerPeriod(periodMs: number): void {
    this.tickTimer?.cancel();
    this.tickTimer = null;
    this.tickPeriodMs = periodMs;
    if (periodMs > 0) this.armTick();
  }

  /** The armed tick period in ms (0: none). */
  get tickPeriod(): number {
    return this.deleted ? 0 : this.tickPeriodMs;
  }

  get tickArmed(): boolean {
    return this.tickPeriodMs > 0 && !this.deleted;
  }

  get deleted(): boolean {
    return this.state === "deleted";
  }

  private armTick(): void {
    this.tickTimer = this.vm.host.clock.schedule(this.tickPeriodMs, `tick ${this.rootId}@${this.vm.label}`, () => {
      this.tickTimer = null;
      this.tick();
    });
  }

  /** Wasm::tickHandler: onTick, then re-arm with the period in force afterwards. */
  tick(): void {
    if (this.deleted || this.vm.closed) return;
    this.onTick();
    if (this.tickPeriodMs > 0 && !this.deleted) {
      this.tickTimer?.cancel();
      this.armTick();
    }
  }

  onTick(): void {
    const vm = this.vm;
    if (vm.failed || !vm.has("proxy_on_tick")) return;
    vm.defer(() => vm.call(this, "proxy_on_tick", this.id));
  }

  onQueueReady(token: number): void {
    const vm = this.vm;
    if (vm.failed || !vm.has("proxy_on_queue_ready") || this.state === "deleted") return;
    vm.defer(() => vm.call(this, "proxy_on_queue_ready", this.id, token));
  }

  onForeignFunction(functionId: number, data: Uint8Array): void {
    const vm = this.vm;
    if (!vm.has("proxy_on_foreign_function") || this.state === "deleted") return;
    this.callData = data;
    vm.defer(() => vm.call(this, "proxy_on_foreign_function", this.id, functionId, data.length));
    this.callData = EMPTY;
  }

  /**
   * Envoy onHttpCallSuccess / onHttpCallFailure: the response is readable while the callback runs
   * and dropped by an after-call action; a failure sets status BrokenConnection "reset" and
   * delivers 0 headers, 0 body bytes, 0 trailers.
   */
  onHttpCallResponse(token: number, response: CallResponse | null): void {
    const vm = this.vm;
    if (response === null) {
      this.statusCode = WasmResult.BrokenConnection;
      this.statusMessage = "reset";
      vm.addAfterCallAction(() => {
        this.statusMessage = "";
      });
    } else {
      this.httpCallResponse = response;
      vm.addAfterCallAction(() => {
        this.httpCallResponse = null;
      });
    }
    if (vm.failed || !vm.has("proxy_on_http_call_response")) {
      vm.runAfterCallActions();
      return;
    }
    const headers = response?.headers.size ?? 0;
    const body = response?.body.length ?? 0;
    const trailers = response?.trailers?.size ?? 0;
    vm.defer(() => vm.call(this, "proxy_on_http_call_response", this.id, token, headers, body, trailers));
  }

  /** ContextBase::onDone. */
  onDone(): boolean {
    const vm = this.vm;
    if (vm.failed || !vm.has("proxy_on_done")) return true;
    return vm.defer(() => truthy(vm.call(this, "proxy_on_done", this.id)));
  }

  /** ContextBase::onDelete, then the context is gone (pending HTTP calls cancelled, timer off). */
  onDelete(): void {
    const vm = this.vm;
    if (this.inVmContextCreated && !vm.failed && vm.has("proxy_on_delete")) {
      vm.defer(() => vm.call(this, "proxy_on_delete", this.id));
    }
    this.state = "deleted";
    this.tickTimer?.cancel();
    this.tickTimer = null;
    // ~Context: Envoy cancels the HTTP calls this root made (every http_call belongs to a root).
    vm.httpCalls.cancelFor(this.id);
    vm.forgetContext(this.id);
  }
}
