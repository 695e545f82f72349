// The bucket table's slots in Envoy shared data (the process-wide store of the vm_id): one key
// `aigw/token-bucket/<slot>` per slot, read and written as bytes in place.

import { WasmResult } from "../../assembly/index";
import { SharedRead, getSharedDataInto, setSharedDataRaw } from "../../assembly/host/shared-data";
import { RECORD_BYTES, writeSlotKey } from "../../assembly/ratelimit/record";
import { ReadStatus, SlotStore, WriteStatus } from "../../assembly/ratelimit/table";

export class SharedDataSlots extends SlotStore {
  private key: ArrayBuffer = new ArrayBuffer(32);
  private result: SharedRead = new SharedRead();

  read(slot: u32, into: usize): ReadStatus {
    const k = changetype<usize>(this.key);
    const n = writeSlotKey(slot, k);
    const r = getSharedDataInto(k, <usize>n, into, RECORD_BYTES, this.result);
    if (r.status == WasmResult.NotFound) return ReadStatus.Absent;
    if (r.status != WasmResult.Ok) return ReadStatus.Error;
    this.cas = r.cas;
    this.length = r.length;
    return ReadStatus.Ok;
  }

  write(slot: u32, from: usize, cas: u32): WriteStatus {
    const k = changetype<usize>(this.key);
    const n = writeSlotKey(slot, k);
    const status = setSharedDataRaw(k, <usize>n, from, <usize>RECORD_BYTES, cas);
    if (status == WasmResult.Ok) return WriteStatus.Ok;
    return status == WasmResult.CasMismatch ? WriteStatus.Conflict : WriteStatus.Error;
  }
}
