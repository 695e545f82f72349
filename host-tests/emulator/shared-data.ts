// Process-wide shared data, one namespace per vm_id, with cpp-host's rules (src/shared_data.cc):
// - get: NotFound for an unknown key, else the value and its CAS.
// - set: when the key exists and cas != 0 and cas differs from the stored one -> CasMismatch;
//   otherwise (including every write that creates a key, whatever cas it passes) the value is
//   stored with a fresh CAS.
// - CAS values come from one counter shared by all vm_ids, starting at 1 and skipping 0.
// - A vm_id's data disappears when the last VM with that vm_id goes away (vm_id_handle.cc).
// Tests reach in through `inject` (make the next guest writes lose a race) and `onGuestSet`.

import { WasmResult, fromUtf8, toBytes, type BodyInit, type WasmResultCode } from "./types";

export interface SharedValue {
  bytes: Uint8Array;
  cas: number;
}

export interface GuestSet {
  vmId: string;
  key: string;
  value: Uint8Array;
  cas: number;
}

export interface ConflictInjection {
  /** Only writes to this key (or keys matching it); default every key. */
  key?: string | RegExp;
  vmId?: string;
  /** How many guest writes lose; default 1. */
  times?: number;
  /** What the racing writer stores; default the current value unchanged (only the CAS moves). */
  value?: BodyInit;
}

export class SharedDataStore {
  private readonly data = new Map<string, Map<string, SharedValue>>();
  private nextCas = 1;
  private readonly hooks: Array<(set: GuestSet) => void> = [];

  get(vmId: string, key: string): SharedValue | undefined {
    return this.data.get(vmId)?.get(key);
  }

  set(vmId: string, key: string, value: Uint8Array, cas: number): WasmResultCode {
    let map = this.data.get(vmId);
    if (map === undefined) {
      map = new Map();
      this.data.set(vmId, map);
    }
    const existing = map.get(key);
    if (existing !== undefined && cas !== 0 && cas !== existing.cas) return WasmResult.CasMismatch;
    map.set(key, { bytes: value.slice(), cas: this.takeCas() });
    return WasmResult.Ok;
  }

  /** A guest's write: hooks run first, so a test can race it. */
  guestSet(vmId: string, key: string, value: Uint8Array, cas: number): WasmResultCode {
    for (const hook of [...this.hooks]) hook({ vmId, key, value, cas });
    return this.set(vmId, key, value, cas);
  }

  /** Runs `hook` before every guest write; returns a function that removes it. */
  onGuestSet(hook: (set: GuestSet) => void): () => void {
    this.hooks.push(hook);
    return () => {
      const at = this.hooks.indexOf(hook);
      if (at >= 0) this.hooks.splice(at, 1);
    };
  }

  /**
   * Makes the next `times` conditional guest writes (cas != 0 on an existing key) lose a race:
   * just before each, another "worker" writes the key, so the guest's CAS no longer matches.
   */
  inject(conflict: ConflictInjection = {}): void {
    let left = conflict.times ?? 1;
    const remove = this.onGuestSet((set) => {
      if (left <= 0) return;
      if (conflict.vmId !== undefined && conflict.vmId !== set.vmId) return;
      const match = conflict.key;
      if (match !== undefined && (typeof match === "string" ? match !== set.key : !match.test(set.key))) return;
      const current = this.get(set.vmId, set.key);
      if (set.cas === 0 || current === undefined) return;
      this.set(set.vmId, set.key, conflict.value === undefined ? current.bytes : toBytes(conflict.value), 0);
      if (--left === 0) remove();
    });
  }

  keys(vmId: string): string[] {
    return [...(this.data.get(vmId)?.keys() ?? [])];
  }

  text(vmId: string, key: string): string | undefined {
    const v = this.get(vmId, key);
    return v === undefined ? undefined : fromUtf8(v.bytes);
  }

  deleteVmId(vmId: string): void {
    this.data.delete(vmId);
  }

  private takeCas(): number {
    const cas = this.nextCas;
    this.nextCas = (this.nextCas + 1) >>> 0;
    if (this.nextCas === 0) this.nextCas = 1;
    return cas;
  }
}
