// Access to a guest's linear memory the way cpp-host does it: reads and writes are bounds-checked
// (a bad pointer is InvalidMemoryAccess, never a host crash), integers are little-endian, and data
// handed to the guest is allocated with the guest's exported `malloc` (WasmBase::allocMemory) and
// reported through a (u32 ptr, u32 size) out-param pair (WasmBase::copyToPointerSize: an empty
// value is pointer 0, size 0, with no allocation). `malloc` may grow memory, so views are
// re-created whenever the underlying ArrayBuffer changes.

import { fromUtf8 } from "./types";

export class GuestMemory {
  private buffer: ArrayBuffer | null = null;
  private u8 = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));

  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly malloc: (size: number) => number,
  ) {}

  private refresh(): void {
    if (this.memory.buffer !== this.buffer) {
      this.buffer = this.memory.buffer;
      this.u8 = new Uint8Array(this.buffer);
      this.dv = new DataView(this.buffer);
    }
  }

  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  private inBounds(ptr: number, size: number): boolean {
    return ptr >= 0 && size >= 0 && ptr + size <= this.memory.buffer.byteLength;
  }

  /** A live view of guest bytes, or null when out of bounds. Copy it before calling the guest. */
  view(ptr: number, size: number): Uint8Array | null {
    ptr >>>= 0;
    size >>>= 0;
    if (!this.inBounds(ptr, size)) return null;
    this.refresh();
    return this.u8.subarray(ptr, ptr + size);
  }

  copy(ptr: number, size: number): Uint8Array | null {
    const v = this.view(ptr, size);
    return v === null ? null : v.slice();
  }

  string(ptr: number, size: number): string | null {
    const v = this.view(ptr, size);
    return v === null ? null : fromUtf8(v);
  }

  setU32(ptr: number, value: number): boolean {
    ptr >>>= 0;
    if (!this.inBounds(ptr, 4)) return false;
    this.refresh();
    this.dv.setUint32(ptr, value >>> 0, true);
    return true;
  }

  setU64(ptr: number, value: bigint): boolean {
    ptr >>>= 0;
    if (!this.inBounds(ptr, 8)) return false;
    this.refresh();
    this.dv.setBigUint64(ptr, BigInt.asUintN(64, value), true);
    return true;
  }

  getU32(ptr: number): number {
    this.refresh();
    return this.dv.getUint32(ptr >>> 0, true);
  }

  write(ptr: number, data: Uint8Array): boolean {
    ptr >>>= 0;
    if (!this.inBounds(ptr, data.length)) return false;
    this.refresh();
    this.u8.set(data, ptr);
    return true;
  }

  /** Copies `data` into a fresh guest allocation; returns its address or null when malloc failed. */
  alloc(data: Uint8Array): number | null {
    const ptr = this.malloc(data.length) >>> 0;
    if (ptr === 0 || !this.write(ptr, data)) return null;
    return ptr;
  }

  /** WasmBase::copyToPointerSize. */
  copyToPointerSize(data: Uint8Array, ptrPtr: number, sizePtr: number): boolean {
    let ptr = 0;
    if (data.length > 0) {
      const p = this.alloc(data);
      if (p === null) return false;
      ptr = p;
    }
    return this.setU32(ptrPtr, ptr) && this.setU32(sizePtr, data.length);
  }
}
