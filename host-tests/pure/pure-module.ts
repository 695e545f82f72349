// Loads a pure test module (build/pure/<name>.wasm, built by build-pure.ts) and moves bytes in
// and out of it (the protocol is described in io.ts). The module's only import is env.proxy_log,
// reached only through abort: it records the message and throws, so a call that aborts fails
// its test, and `aborts` lets a suite assert that none happened.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { PURE_DIR } from "./build-pure";

type Fn = (...args: never[]) => unknown;

export class PureModule {
  readonly aborts: string[];
  private readonly exports: Record<string, unknown>;

  constructor(private readonly name: string, instance: WebAssembly.Instance, aborts: string[]) {
    this.exports = instance.exports as Record<string, unknown>;
    this.aborts = aborts;
  }

  private fn(name: string): Fn {
    const f = this.exports[name];
    if (typeof f !== "function") throw new Error(`${this.name}.wasm does not export ${name}`);
    return f as Fn;
  }

  private get memory(): WebAssembly.Memory {
    return this.exports.memory as WebAssembly.Memory;
  }

  /** Copies bytes into a new pinned buffer; returns its address (release it after the call). */
  put(data: Uint8Array | string): number {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const ptr = (this.fn("alloc") as (n: number) => number)(bytes.length);
    new Uint8Array(this.memory.buffer, ptr, bytes.length).set(bytes);
    return ptr;
  }

  /** Copies a result buffer out and releases it. */
  take(ptr: number): Uint8Array {
    const len = (this.fn("byteLength") as (p: number) => number)(ptr);
    const out = new Uint8Array(this.memory.buffer, ptr, len).slice();
    this.release(ptr);
    return out;
  }

  release(ptr: number): void {
    (this.fn("release") as (p: number) => void)(ptr);
  }

  /** Calls `name` with any mix of byte inputs (copied in) and numbers; returns the raw result. */
  call(name: string, ...args: Array<Uint8Array | string | number | bigint>): unknown {
    const held: number[] = [];
    const values = args.map((a) => {
      if (typeof a === "number" || typeof a === "bigint") return a;
      const ptr = this.put(a);
      held.push(ptr);
      return ptr;
    });
    try {
      return (this.fn(name) as (...v: unknown[]) => unknown)(...values);
    } finally {
      for (const ptr of held) this.release(ptr);
    }
  }

  /** Calls a function that returns a buffer; returns its bytes. */
  bytes(name: string, ...args: Array<Uint8Array | string | number | bigint>): Uint8Array {
    return this.take(this.call(name, ...args) as number);
  }

  /** Calls a function that returns a UTF-8 buffer; returns it decoded (strictly). */
  text(name: string, ...args: Array<Uint8Array | string | number | bigint>): string {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(this.bytes(name, ...args));
  }

  /** Calls a function that returns JSON text; returns it parsed. */
  json<T = unknown>(name: string, ...args: Array<Uint8Array | string | number | bigint>): T {
    return JSON.parse(this.text(name, ...args)) as T;
  }
}

/** UTF-16LE bytes of a JS string (lone surrogates included), for functions that take text. */
export function utf16(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    out[2 * i] = u & 0xff;
    out[2 * i + 1] = u >> 8;
  }
  return out;
}

export async function loadPure(name: string): Promise<PureModule> {
  const aborts: string[] = [];
  let memory: WebAssembly.Memory | null = null;
  const imports = {
    env: {
      proxy_log(_level: number, ptr: number, len: number): void {
        const message = memory ? new TextDecoder().decode(new Uint8Array(memory.buffer, ptr, len)) : "(no memory)";
        aborts.push(message);
        throw new Error(`${name}.wasm aborted: ${message}`);
      },
    },
  };
  const bytes = await readFile(path.join(PURE_DIR, `${name}.wasm`));
  const { instance } = await WebAssembly.instantiate(bytes, imports);
  memory = instance.exports.memory as WebAssembly.Memory;
  (instance.exports._initialize as () => void)();
  return new PureModule(name, instance, aborts);
}
