// A read-only view of a header map as the host serialises it (pairs.ts's layout), for lookups
// without a host call each: one `get_header_map_pairs` brings every header, indexed by name as
// it is checked (pairs-index.ts), and a lookup compares bytes in place. Names are compared as
// Envoy keys them, lower-case ASCII, so a name given as a string is matched code unit against byte without encoding it. Values become strings
// only when asked for.
//
// Writes made to the host's map after the load can be recorded as edits (`edit`), which `find`
// applies over the loaded map: the stages of one pipeline each write a header or two and read
// the map after one another, and re-reading the whole map after every write was a host call
// (and a copy of every header) per write.

import { HeaderMapType, WasmResult } from "../abi/types";
import { proxy_get_header_map_pairs } from "../abi/imports";
import { capacityOf, clearOut, lendToHost, OUT_PTR, OUT_SIZE, takeOut } from "../runtime/memory";
import { PairsIndex } from "./pairs-index";
import { narrowAscii, sameAscii } from "../runtime/bytes";
import { setLastStatus } from "./status";
import { decodeUtf8Lossy } from "../json/utf8";

/** Largest buffer a cleared view keeps for its next load (headers beyond it are rare). */
const KEEP_BYTES: i32 = 4096;
/** Most edits a view records; past them the owner re-reads the map. */
const MAX_EDITS: i32 = 32;
/** Most bytes of edited names and values a view keeps (a request's x-ai-* headers take ~200). */
const MAX_EDIT_BYTES: i32 = 8192;
/** Largest edit buffer a cleared view keeps. */
const KEEP_EDIT_BYTES: i32 = 1024;
const NO_EDITS = new StaticArray<i32>(0);
const NO_EDIT_BYTES = new ArrayBuffer(0);

/** A write made to the host's map after the load, as Envoy applies it. */
export enum HeaderEdit {
  /** Appends a value to a header the map does not have (the Exchange re-reads the map otherwise). */
  Add,
  /** Every value gone, one new value. */
  Replace,
  /** Every value gone. */
  Remove,
  /**
   * `Add` of a header the writer removed earlier in the request: nothing is there to join, so
   * `wrote` skips the lookup that `Add` needs (one per header a router writes on every request).
   */
  AddNew,
}

export class PairsView {
  // `current`: read from the host, and every write since recorded (else the next `fresh` reads
  // again); `readOk`: that read succeeded.
  private current: bool = false;
  private readOk: bool = false;
  private buf: ArrayBuffer | null = null;
  private index: PairsIndex = new PairsIndex();
  // Where the last successful `find` found its value.
  private foundAt: usize = 0;
  private foundLength: i32 = 0;
  // Edits since the load: per edit its kind, name offset and length, value offset and length in
  // `editBytes`.
  // Made at the first edit: a view that is only read (most response views) holds none.
  private edits: StaticArray<i32> = NO_EDITS;
  private editCount: i32 = 0;
  private editBytes: ArrayBuffer = NO_EDIT_BYTES;
  private editUsed: i32 = 0;

  constructor(private type: HeaderMapType) {}

  /** The map as the host holds it: read on first use and after a write the view could not record. */
  fresh(): PairsView {
    if (!this.current) {
      this.readOk = this.load();
      this.current = true;
    }
    return this;
  }

  /** The last read succeeded (an empty view after a failed one proves nothing absent). */
  get readable(): bool {
    return this.readOk;
  }

  /** `fresh` says, without a host call, that the map has no `name`. */
  absent(name: string): bool {
    return this.current && this.readOk && !this.has(name);
  }

  /**
   * After a write to the host's map with `status`: recorded as an edit (the value's
   * `valueLength` bytes at `valuePtr`), so the next lookup needs no new read; when it cannot be
   * (not read yet, the write failed, too many edits, or a value added to a header already there,
   * which Envoy keeps as a second entry for most names but joins with a comma for its inline
   * headers: the view does not guess which), the next `fresh` reads the map again.
   */
  wrote(status: WasmResult, kind: HeaderEdit, name: string, valuePtr: usize, valueLength: i32): WasmResult {
    const joined = kind == HeaderEdit.Add && this.current && this.has(name);
    if (kind == HeaderEdit.AddNew) kind = HeaderEdit.Add;
    if (joined || status != WasmResult.Ok || !this.current || !this.readOk || !this.edit(kind, name, valuePtr, valueLength)) {
      this.current = false;
    }
    return status;
  }

  /** Reads the map from the host; false (and an empty view) on a host error or a malformed map. */
  private load(): bool {
    const type = this.type;
    clearOut();
    // The host writes the map into the last one's buffer when it fits (values found before are
    // gone then, as the doc of `find` says).
    lendToHost(this.buf);
    const status = proxy_get_header_map_pairs(type, OUT_PTR, OUT_SIZE);
    setLastStatus(status);
    const buf = takeOut();
    this.foundAt = 0;
    this.foundLength = 0;
    this.editCount = 0;
    this.editUsed = 0;
    if (status != WasmResult.Ok || buf === null) {
      this.index.clear();
      return status == WasmResult.Ok;
    }
    if (!this.index.load(changetype<usize>(buf), <usize>buf.byteLength)) return false;
    this.buf = buf;
    return true;
  }

  /** Forgets the map; keeps a small buffer for the next load, lets a large one go. */
  clear(): void {
    this.current = false;
    this.readOk = false;
    // By the block's size: a reused buffer's length is only the last map's.
    const buf = this.buf;
    if (buf !== null && capacityOf(changetype<usize>(buf)) > <usize>KEEP_BYTES) this.buf = null;
    if (this.editBytes.byteLength > KEEP_EDIT_BYTES) this.editBytes = NO_EDIT_BYTES;
    this.index.clear();
    this.foundAt = 0;
    this.foundLength = 0;
    this.editCount = 0;
    this.editUsed = 0;
  }

  /**
   * Records a write the host accepted after the load: `name` (lower-case ASCII) and the value's
   * `valueLength` bytes at `valuePtr` (none for Remove). False when the view holds no more edits.
   * Values found before may move.
   */
  private edit(kind: HeaderEdit, name: string, valuePtr: usize, valueLength: i32): bool {
    const i = this.editCount;
    const nameLength = name.length;
    const need = this.editUsed + nameLength + valueLength;
    if (i >= MAX_EDITS || need > MAX_EDIT_BYTES) return false;
    if (this.edits.length == 0) this.edits = new StaticArray<i32>(MAX_EDITS * 5);
    if (need > this.editBytes.byteLength) {
      let size = this.editBytes.byteLength < 128 ? 256 : this.editBytes.byteLength << 1;
      while (size < need) size <<= 1;
      const grown = new ArrayBuffer(size);
      memory.copy(changetype<usize>(grown), changetype<usize>(this.editBytes), <usize>this.editUsed);
      this.editBytes = grown;
    }
    const base = changetype<usize>(this.editBytes);
    const nameAt = this.editUsed;
    narrowAscii(base + <usize>nameAt, changetype<usize>(name), nameLength);
    const valueAt = nameAt + nameLength;
    if (valueLength > 0) memory.copy(base + <usize>valueAt, valuePtr, <usize>valueLength);
    this.editUsed = need;
    const e = changetype<usize>(this.edits) + (<usize>i * 20);
    store<i32>(e, <i32>kind);
    store<i32>(e, nameAt, 4);
    store<i32>(e, nameLength, 8);
    store<i32>(e, valueAt, 12);
    store<i32>(e, valueLength, 16);
    this.editCount = i + 1;
    return true;
  }

  /** Headers in the loaded map (edits since the load not counted). */
  get size(): i32 {
    return this.index.size;
  }

  /** Address of the value the last successful `find` found. */
  get valuePtr(): usize {
    return this.foundAt;
  }

  /** True when the value the last successful `find` found starts with ASCII `prefix`. */
  valueStartsWith(prefix: string): bool {
    if (prefix.length > this.foundLength) return false;
    return sameAscii(this.foundAt, prefix);
  }

  /** Length in bytes of the value the last successful `find` found. */
  get valueLength(): i32 {
    return this.foundLength;
  }

  /** True when the map has `name` (lower-case ASCII). */
  has(name: string): bool {
    return this.find(name);
  }

  /**
   * Whether the map, as loaded and edited since, has more than one header `name`: a stage that
   * removed a client's copies and wrote its own (the router's `x-ai-tenant`, say) leaves one,
   * whatever the client sent.
   */
  repeats(name: string): bool {
    if (!this.readOk) return false;
    let count = this.index.countOf(name);
    for (let i = 0, n = this.editCount; i < n; i++) {
      const kind = this.editOf(i, name);
      if (kind < 0) continue;
      if (kind == HeaderEdit.Remove) count = 0;
      else if (kind == HeaderEdit.Replace) count = 1;
      else count++;
    }
    return count > 1;
  }

  /** The first value of `name` ("" when empty), or null when absent. */
  get(name: string): string | null {
    if (!this.find(name)) return null;
    return decodeUtf8Lossy(this.foundAt, this.foundLength);
  }

  /**
   * Finds `name` in the map as loaded and edited since; on success `valuePtr`/`valueLength` give
   * its first value's bytes, valid until the view is loaded or edited again.
   */
  find(name: string): bool {
    const found = this.findLoaded(name);
    return this.editCount == 0 ? found : this.applyEdits(name, found);
  }

  /** `find` over the edits since the load, in order, given what the loaded map says. */
  private applyEdits(name: string, found: bool): bool {
    for (let i = 0, n = this.editCount; i < n; i++) {
      const kind = this.editOf(i, name);
      if (kind < 0) continue;
      if (kind == HeaderEdit.Remove) {
        found = false;
      } else if (kind == HeaderEdit.Replace || !found) {
        found = true;
        const e = changetype<usize>(this.edits) + (<usize>i * 20);
        this.foundAt = changetype<usize>(this.editBytes) + <usize>load<i32>(e, 12);
        this.foundLength = load<i32>(e, 16);
      }
    }
    return found;
  }

  /** Edit `i`'s kind when it is of header `name`, else -1. */
  // @ts-ignore: decorator
  @inline
  private editOf(i: i32, name: string): i32 {
    const e = changetype<usize>(this.edits) + (<usize>i * 20);
    if (load<i32>(e, 8) != name.length || !sameAscii(changetype<usize>(this.editBytes) + <usize>load<i32>(e, 4), name)) return -1;
    return load<i32>(e);
  }

  private findLoaded(name: string): bool {
    const index = this.index;
    if (!index.find(name)) return false;
    this.foundAt = index.foundAt;
    this.foundLength = index.foundLength;
    return true;
  }
}
