// A body buffer with Envoy's semantics for a filter's writes. `copyFrom` is Envoy's
// Buffer::copyFrom (source/extensions/common/wasm/context.cc):
//   start 0, length 0      -> prepend
//   start 0, length n > 0  -> drain n bytes (at most all of them), then prepend: replaces the front
//   start >= buffer length -> append
//   anything else          -> BadArgument

import { EMPTY, WasmResult, type WasmResultCode } from "./types";

export class BodyBuffer {
  private data: Uint8Array;
  private len = 0;

  constructor(initial: Uint8Array = EMPTY) {
    this.data = new Uint8Array(Math.max(16, initial.length));
    this.data.set(initial);
    this.len = initial.length;
  }

  get length(): number {
    return this.len;
  }

  /** A view of the current contents; copy it before the buffer changes if you keep it. */
  bytes(): Uint8Array {
    return this.data.subarray(0, this.len);
  }

  /** Bytes [start, start+length) clamped to the contents, as proxy_get_buffer_bytes reads them. */
  slice(start: number, length: number): Uint8Array {
    if (start >= this.len) return EMPTY;
    return this.data.slice(start, Math.min(this.len, start + length));
  }

  append(chunk: Uint8Array): void {
    this.reserve(this.len + chunk.length);
    this.data.set(chunk, this.len);
    this.len += chunk.length;
  }

  prepend(chunk: Uint8Array): void {
    this.reserve(this.len + chunk.length);
    this.data.copyWithin(chunk.length, 0, this.len);
    this.data.set(chunk, 0);
    this.len += chunk.length;
  }

  drain(count: number): void {
    const n = Math.min(count, this.len);
    this.data.copyWithin(0, n, this.len);
    this.len -= n;
  }

  /** Moves everything from `other` to the end of this buffer (Envoy's Buffer::move). */
  moveFrom(other: BodyBuffer): void {
    if (other === this) return;
    this.append(other.bytes());
    other.len = 0;
  }

  copyFrom(start: number, length: number, chunk: Uint8Array): WasmResultCode {
    if (start === 0) {
      if (length !== 0) this.drain(length);
      this.prepend(chunk);
      return WasmResult.Ok;
    }
    if (start >= this.len) {
      this.append(chunk);
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }

  private reserve(capacity: number): void {
    if (capacity <= this.data.length) return;
    const next = new Uint8Array(Math.max(capacity, this.data.length * 2));
    next.set(this.data.subarray(0, this.len));
    this.data = next;
  }
}

/** What proxy_get_buffer_bytes / proxy_set_buffer_bytes / proxy_get_buffer_status act on. */
export interface HostBuffer {
  readonly length: number;
  slice(start: number, length: number): Uint8Array;
  copyFrom(start: number, length: number, chunk: Uint8Array): WasmResultCode;
}

/**
 * A read-only buffer (configuration, an HTTP call's response body, or a body the context cannot
 * see). Writing is BadArgument, as cpp-host's BufferBase::copyFrom answers.
 */
export class ConstBuffer implements HostBuffer {
  constructor(private readonly data: Uint8Array) {}

  get length(): number {
    return this.data.length;
  }

  slice(start: number, length: number): Uint8Array {
    if (start >= this.data.length) return EMPTY;
    return this.data.slice(start, Math.min(this.data.length, start + length));
  }

  copyFrom(): WasmResultCode {
    return WasmResult.BadArgument;
  }
}

export const EMPTY_BUFFER = new ConstBuffer(EMPTY);
