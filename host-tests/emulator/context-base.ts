// What every context (the VM's own, a plugin's root, a stream) answers to host calls, following
// cpp-host's ContextBase and Envoy's Context (source/extensions/common/wasm/context.cc). Root-like
// contexts own what Envoy keeps on the root: the current HTTP call response (Envoy stores it on the
// context that made the call, which is always a root: exports.cc http_call uses root_context()),
// the status of the last call (proxy_get_status) and the foreign-function call data.

import { BufferType, EMPTY, HeaderMapType, StreamType, WasmResult, type HeaderPairs, type WasmResultCode } from "./types";
import { ConstBuffer, EMPTY_BUFFER, type HostBuffer } from "./buffer";
import type { HeaderMap } from "./header-map";
import type { Plugin } from "./plugin";
import { resolveProperty, type PropertyResult, type StreamInfoView } from "./properties";
import type { Vm } from "./vm";

export interface CallResponse {
  headers: HeaderMap;
  body: Uint8Array;
  trailers: HeaderMap | null;
}

export abstract class ContextBase {
  abstract readonly isRoot: boolean;
  /** Envoy's in_vm_context_created_: proxy_on_context_create ran (or was due). */
  inVmContextCreated = false;
  /** Envoy's temp_plugin_: whose configuration PluginConfiguration reads right now. */
  tempPlugin: Plugin | null = null;
  // Root-like state (see file comment).
  httpCallResponse: CallResponse | null = null;
  callData: Uint8Array = EMPTY;
  statusCode = 0;
  statusMessage = "";

  constructor(
    readonly vm: Vm,
    readonly id: number,
    readonly plugin: Plugin | null,
  ) {}

  /** cpp-host root_context(): a root (or the VM context) is its own root. */
  abstract get root(): ContextBase;

  get rootId(): string {
    return this.plugin?.rootId ?? "";
  }

  get accessLogPhase(): boolean {
    return false;
  }

  /** Maps a filter may write (Envoy getMap); null answers BadArgument. */
  getMap(_type: number): HeaderMap | null {
    return null;
  }

  /** Maps a filter may read (Envoy getConstMap). */
  getConstMap(type: number): HeaderMap | null {
    const response = this.root.httpCallResponse;
    if (type === HeaderMapType.HttpCallResponseHeaders) return response?.headers ?? null;
    if (type === HeaderMapType.HttpCallResponseTrailers) return response?.trailers ?? null;
    return null;
  }

  /** Envoy getBuffer: null answers NotFound. */
  getBuffer(type: number): HostBuffer | null {
    switch (type) {
      case BufferType.CallData:
        return new ConstBuffer(this.root.callData);
      case BufferType.VmConfiguration:
        return new ConstBuffer(this.vm.vmConfig);
      case BufferType.PluginConfiguration:
        return this.tempPlugin === null ? null : new ConstBuffer(this.tempPlugin.configuration);
      case BufferType.HttpCallResponseBody: {
        const response = this.root.httpCallResponse;
        return response === null ? null : new ConstBuffer(response.body);
      }
      case BufferType.HttpRequestBody:
      case BufferType.HttpResponseBody:
      case BufferType.DownstreamData:
      case BufferType.UpstreamData:
      case BufferType.GrpcReceiveBuffer:
        // Envoy points its buffer wrapper at a null instance: empty, and writes are BadArgument.
        return EMPTY_BUFFER;
      default:
        return null;
    }
  }

  /** Request-header writes clear the route cache for ABI <= 0.2.1 (Envoy onHeadersModified). */
  onHeadersModified(_type: number): void {}

  /** Envoy continueStream without stream callbacks: nothing to resume. */
  continueStream(type: number): WasmResultCode {
    if (type === StreamType.Upstream) return WasmResult.Unimplemented;
    return WasmResult.Ok;
  }

  closeStream(_type: number): WasmResultCode {
    return WasmResult.Ok;
  }

  /** Envoy sends a local reply only through a stream's decoder callbacks; elsewhere it is dropped. */
  sendLocalResponse(status: number, _body: Uint8Array, _headers: HeaderPairs, _grpcStatus: number, _details: string): void {
    this.vm.host.warn(`send_local_response(${status}) on ${this.describe()} is ignored: Envoy needs a stream context`, this);
  }

  setProperty(_path: string, _value: Uint8Array): WasmResultCode {
    return WasmResult.NotFound;
  }

  getProperty(path: string): PropertyResult {
    return resolveProperty(
      {
        pluginName: this.plugin?.name ?? null,
        rootId: this.rootId,
        vmId: this.vm.vmId,
        stream: this.streamInfo(),
        filterState: this.filterState(),
        overrides: this.vm.host.propertyOverrides,
      },
      path,
    );
  }

  /** The stream this context belongs to (what Envoy's StreamInfo and headers say), if any. */
  streamInfo(): StreamInfoView | null {
    return null;
  }

  /** Values stored with proxy_set_property (streams only). */
  filterState(): ReadonlyMap<string, Uint8Array> | null {
    return null;
  }

  clearRouteCache(): void {}

  describe(): string {
    return `context ${this.id}${this.rootId ? ` (${this.rootId})` : ""} in ${this.vm.label}`;
  }
}

/** The VM's own context (id 0): current while the module starts. */
export class VmContext extends ContextBase {
  readonly isRoot = true;

  get root(): ContextBase {
    return this;
  }
}
