// Envoy's HeaderMapImpl as far as a filter can observe it: names are lower-cased, entries keep
// insertion order with pseudo-headers (":path", ":status", ...) in front of the others,
// `setCopy` removes every value then appends one (envoy source/common/http/header_map_impl.cc,
// runtime flag http_set_copy_replace_all_headers, on by default), and `byteSize` is the sum of
// the name and value lengths, which is what `proxy_get_header_map_size` reports.

import { utf8, type HeaderPairs } from "./types";

export class HeaderMap {
  private entries: HeaderPairs;

  constructor(pairs: ReadonlyArray<readonly [string, string]> = []) {
    this.entries = [];
    for (const [name, value] of pairs) this.add(name, value);
  }

  get size(): number {
    return this.entries.length;
  }

  /** First value, as Envoy's getHeaderMapValue returns (context.cc: "This needs to either return a concatenated list"). */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    for (const [n, v] of this.entries) if (n === key) return v;
    return undefined;
  }

  getAll(name: string): string[] {
    const key = name.toLowerCase();
    return this.entries.filter(([n]) => n === key).map(([, v]) => v);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  add(name: string, value: string): void {
    const key = name.toLowerCase();
    if (key.startsWith(":")) {
      let at = 0;
      while (at < this.entries.length && this.entries[at][0].startsWith(":")) at++;
      this.entries.splice(at, 0, [key, value]);
    } else {
      this.entries.push([key, value]);
    }
  }

  set(name: string, value: string): void {
    this.remove(name);
    this.add(name, value);
  }

  remove(name: string): void {
    const key = name.toLowerCase();
    this.entries = this.entries.filter(([n]) => n !== key);
  }

  clear(): void {
    this.entries = [];
  }

  byteSize(): number {
    let size = 0;
    for (const [n, v] of this.entries) size += utf8(n).length + utf8(v).length;
    return size;
  }

  pairs(): HeaderPairs {
    return this.entries.map(([n, v]) => [n, v]);
  }

  clone(): HeaderMap {
    const copy = new HeaderMap();
    copy.entries = this.pairs();
    return copy;
  }
}
