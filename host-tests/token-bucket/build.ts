// Builds token-bucket's pure test module (build/pure/token-bucket.wasm) from
// host-tests/token-bucket/pure-entry.ts, release target, with the shared test build helper
// (atomic, once per test process), and instantiates it with the test's shared data.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { buildModule, ROOT } from "../fixtures/build-module";
import { PureModule } from "../pure/pure-module";

export const PURE_WASM = path.join(ROOT, "build", "pure", "token-bucket.wasm");

export function buildPureModule(): Promise<string> {
  return buildModule("host-tests/token-bucket/pure-entry.ts", PURE_WASM);
}

/** What the module's shared data is: answers to tb_store_read / tb_store_write. */
export interface TestStore {
  /** The slot's value and CAS, or undefined when the key does not exist; "error" for a host error. */
  read(slot: number): { bytes: Uint8Array; cas: number } | undefined | "error";
  /** 0 Ok, 1 CasMismatch, 2 another error. */
  write(slot: number, bytes: Uint8Array, cas: number): 0 | 1 | 2;
}

/** One instance of the module (a worker), its shared data reached through `store`. */
export class Worker extends PureModule {
  constructor(instance: WebAssembly.Instance, aborts: string[]) {
    super("token-bucket", instance, aborts);
  }

  /** Calls an export that takes and returns numbers (BigInt for i64). */
  num(name: string, ...args: Array<number | bigint>): number | bigint {
    return this.call(name, ...args) as number | bigint;
  }
}

let compiled: Promise<WebAssembly.Module> | undefined;

/** A new instance of the module; `store` is read at each call, so tests may swap it. */
export async function loadWorker(store: () => TestStore): Promise<Worker> {
  compiled ??= readFile(PURE_WASM).then((bytes) => WebAssembly.compile(bytes));
  const module = await compiled;
  const aborts: string[] = [];
  let memory: WebAssembly.Memory | null = null;
  const mem = () => memory as WebAssembly.Memory;
  const imports = {
    env: {
      proxy_log(_level: number, ptr: number, len: number): void {
        const message = new TextDecoder().decode(new Uint8Array(mem().buffer, ptr, len));
        aborts.push(message);
        throw new Error(`token-bucket.wasm aborted: ${message}`);
      },
      tb_store_read(slot: number, into: number, room: number, out: number): number {
        const v = store().read(slot >>> 0);
        if (v === "error") return 2;
        if (v === undefined) return 1;
        new Uint8Array(mem().buffer, into, Math.min(room, v.bytes.length)).set(v.bytes.subarray(0, room));
        const view = new DataView(mem().buffer);
        view.setUint32(out, v.cas, true);
        view.setInt32(out + 4, v.bytes.length, true);
        return 0;
      },
      tb_store_write(slot: number, from: number, len: number, cas: number): number {
        const bytes = new Uint8Array(mem().buffer, from, len).slice();
        return store().write(slot >>> 0, bytes, cas >>> 0);
      },
    },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  memory = instance.exports.memory as WebAssembly.Memory;
  (instance.exports._initialize as () => void)();
  return new Worker(instance, aborts);
}
