// One configured filter (`root_id`) in one VM. A VM may host several root contexts with different
// root ids and configurations; each owns its configuration, metrics and tick.

import { proxy_done, proxy_set_effective_context } from "../abi/imports";
import { WasmResult } from "../abi/types";
import { httpCall, HttpCallHandler } from "../host/http-call";
import { HeaderPair } from "../host/pairs";
import { activeContext } from "./active";
import { HttpContext } from "./http-context";

export class RootContext {
  constructor(public readonly id: u32, public readonly rootId: string) {}

  /** `vm_config.configuration`, once per root context. False fails the VM. */
  onVmStart(vmConfiguration: ArrayBuffer): bool {
    return true;
  }

  /**
   * The plugin's JSON configuration. False makes Envoy reject the filter; log one critical line
   * that names the field first. Runs again in Envoy's throw-away canary VM: no HTTP calls here.
   */
  onConfigure(configuration: ArrayBuffer): bool {
    return true;
  }

  /** The stream's context. The default passes everything through. */
  newHttpContext(id: u32): HttpContext {
    return new HttpContext(id);
  }

  onTick(): void {}

  onQueueReady(queueId: u32): void {}

  onForeignFunction(functionId: u32, dataSize: u32): void {}

  /**
   * Envoy is tearing this root context down. Return false to finish pending work first and call
   * `done()` when it is finished.
   */
  onDone(): bool {
    return true;
  }

  onDelete(): void {}

  /** Reports that work postponed by `onDone` returning false has finished. */
  done(): WasmResult {
    const caller = activeContext();
    if (caller == this.id) return <WasmResult>proxy_done();
    proxy_set_effective_context(this.id);
    const status = <WasmResult>proxy_done();
    proxy_set_effective_context(caller);
    return status;
  }

  /** `http_call` whose response is delivered to `handler` with this root context effective. */
  httpCall(cluster: string, headers: HeaderPair[], body: ArrayBuffer | null, timeoutMs: u32, handler: HttpCallHandler): u32 {
    return httpCall(this.id, cluster, headers, body, null, timeoutMs, handler);
  }
}
