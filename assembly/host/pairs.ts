// Serialisation of header pairs in the ABI's layout (proxy-wasm-cpp-host `pairs_util.cc`):
// u32 count, then (u32 name length, u32 value length) per pair, then each name and value
// followed by a NUL byte. Parsing checks every length against the buffer and returns an empty
// list for a malformed map instead of reading out of bounds.

export class HeaderPair {
  constructor(public name: string, public value: string) {}
}

export function serializePairs(pairs: HeaderPair[]): ArrayBuffer {
  const n = pairs.length;
  const names = new Array<ArrayBuffer>(n);
  const values = new Array<ArrayBuffer>(n);
  let size: i32 = 4 + n * 8;
  for (let i = 0; i < n; i++) {
    const name = String.UTF8.encode(unchecked(pairs[i]).name);
    const value = String.UTF8.encode(unchecked(pairs[i]).value);
    unchecked((names[i] = name));
    unchecked((values[i] = value));
    size += name.byteLength + value.byteLength + 2;
  }
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, n);
  let lengths = base + 4;
  let data = base + 4 + <usize>n * 8;
  for (let i = 0; i < n; i++) {
    const name = unchecked(names[i]);
    const value = unchecked(values[i]);
    store<u32>(lengths, name.byteLength);
    store<u32>(lengths + 4, value.byteLength);
    lengths += 8;
    memory.copy(data, changetype<usize>(name), name.byteLength);
    data += name.byteLength;
    store<u8>(data++, 0);
    memory.copy(data, changetype<usize>(value), value.byteLength);
    data += value.byteLength;
    store<u8>(data++, 0);
  }
  return out;
}

/** True when every length in a serialised map fits the buffer, so reading it stays in bounds. */
export function wellFormedPairs(buf: ArrayBuffer): bool {
  const total = <usize>buf.byteLength;
  if (total < 4) return false;
  const base = changetype<usize>(buf);
  const n = <usize>load<u32>(base);
  if (n > (total - 4) / 8) return false;
  let lengths = base + 4;
  let data = base + 4 + n * 8;
  const end = base + total;
  for (let i: usize = 0; i < n; i++) {
    const nameLen = <usize>load<u32>(lengths);
    const valueLen = <usize>load<u32>(lengths + 4);
    lengths += 8;
    if (nameLen > end - data || valueLen > end - data - nameLen || end - data - nameLen - valueLen < 2) return false;
    data += nameLen + valueLen + 2;
  }
  return true;
}

export function parsePairs(buf: ArrayBuffer | null): HeaderPair[] {
  const out = new Array<HeaderPair>();
  if (buf === null || !wellFormedPairs(buf)) return out;
  const base = changetype<usize>(buf);
  const n = <usize>load<u32>(base);
  let lengths = base + 4;
  let data = base + 4 + n * 8;
  for (let i: usize = 0; i < n; i++) {
    const nameLen = <usize>load<u32>(lengths);
    const valueLen = <usize>load<u32>(lengths + 4);
    lengths += 8;
    const name = String.UTF8.decodeUnsafe(data, nameLen);
    data += nameLen + 1;
    const value = String.UTF8.decodeUnsafe(data, valueLen);
    data += valueLen + 1;
    out.push(new HeaderPair(name, value));
  }
  return out;
}
