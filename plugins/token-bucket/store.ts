// The bucket table's slots in Envoy shared data (the process-wide store of the vm_id): one key
// `aigw/token-bucket/<slot>` per slot, read and written as bytes in place.

import { WasmResult } from "../../assembly/index";
import { SharedRead, getSharedDataInto, setSharedDataRaw } from "../../assembly/host/shared-data";
import { RECORD_BYTES, writeSlotKey } from "../../assembly/ratelimit/record";
import { ReadStatus, SlotStore, WriteStatus } from "../../assembly/ratelimit/table";

export class SharedDataSlots extends SlotStore {
  private key: ArrayBuffer = new ArrayBuffer(32);
  /** The slot whose key `key` holds (its `keyLength` bytes); -1: none yet. */
  private keySlot: i64 = -1;
  private keyLength: i32 = 0;
  private result: SharedRead = new SharedRead();

  read(slot: u32, into: usize): ReadStatus {
    const k = this.keyOf(slot);
    const r = getSharedDataInto(k, <usize>this.keyLength, into, RECORD_BYTES, this.result);
    if (r.status == WasmResult.NotFound) return ReadStatus.Absent;
    if (r.status != WasmResult.Ok) return ReadStatus.Error;
    this.cas = r.cas;
    this.length = r.length;
    return ReadStatus.Ok;
  }

  write(slot: u32, from: usize, cas: u32): WriteStatus {
    const k = this.keyOf(slot);
    const status = setSharedDataRaw(k, <usize>this.keyLength, from, <usize>RECORD_BYTES, cas);
    if (status == WasmResult.Ok) return WriteStatus.Ok;
    return status == WasmResult.CasMismatch ? WriteStatus.Conflict : WriteStatus.Error;
  }

  /** Slot `slot`'s key (written once for the reads and writes of one slot in a row). */
  private keyOf(slot: u32): usize {
    const k = changetype<usize>(this.key);
    if (this.keySlot != <i64>slot) {
      this.keyLength = writeSlotKey(slot, k);
      this.keySlot = <i64>slot;
    }
    return k;
  }
}
