// The WASI preview-1 functions Envoy registers (cpp-host FOR_ALL_WASI_FUNCTIONS, under both
// wasi_snapshot_preview1 and wasi_unstable), as cpp-host src/exports.cc implements them where it
// matters to a proxy: fd_write to fd 1/2 becomes a log line at info/error; the clocks read the
// fake clock; random_get is seeded (at most 64 KiB per call); environ_* expose the VM's
// environment variables; args are empty; proc_exit only logs (it does not stop the module);
// poll_oneoff reports no events. File and socket calls answer ENOSYS here (Envoy answers a mix of
// ENOSYS, ENOTSUP and EBADF; nothing of ours calls them).

import { LOG_LEVELS, fromUtf8, utf8 } from "./types";
import type { Vm } from "./vm";

const ESUCCESS = 0;
const EBADF = 8;
const EFAULT = 21;
const EINVAL = 28;
const ENOSYS = 52;
const ENOTSUP = 58;
/** PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES. */
const RANDOM_MAX = 64 * 1024;

const ALL = [
  "fd_write", "fd_read", "fd_seek", "fd_close", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_fdstat_set_rights",
  "environ_get", "environ_sizes_get", "args_get", "args_sizes_get", "clock_time_get", "clock_res_get", "fd_advise",
  "fd_allocate", "fd_datasync", "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread", "fd_pwrite",
  "fd_readdir", "fd_renumber", "fd_sync", "fd_tell", "path_create_directory", "path_filestat_set_times",
  "path_link", "path_readlink", "path_remove_directory", "path_rename", "path_symlink", "path_unlink_file",
  "sock_accept", "sock_recv", "sock_send", "sock_shutdown", "random_get", "sched_yield", "poll_oneoff",
  "proc_exit", "path_open", "fd_prestat_get", "fd_prestat_dir_name", "path_filestat_get", "fd_filestat_get",
] as const;

type WasiFunction = (...args: Array<number | bigint>) => number | void;

export function wasiImports(vm: Vm): Record<string, WasiFunction> {
  const host = vm.host;
  const mem = () => vm.memory;
  const log = (level: number, message: string, source: "stdout" | "stderr" | "emulator") => {
    const ctx = vm.context();
    host.logSink.add({
      level: LOG_LEVELS[level],
      message,
      source,
      vm: vm.label,
      rootId: ctx.rootId,
      contextId: ctx.id,
      timeMs: host.clock.nowMs(),
    });
  };
  const envEntries = () => Object.entries(vm.env).map(([k, v]) => utf8(`${k}=${v}\0`));

  const impl: Record<string, WasiFunction> = {
    fd_write: (fd, iovs, iovsLen, nwrittenPtr) => {
      const level = fd === 1 ? 2 : fd === 2 ? 4 : -1;
      if (level < 0) return EBADF;
      const parts: Uint8Array[] = [];
      for (let i = 0; i < Number(iovsLen); i++) {
        const iov = mem().view(Number(iovs) + i * 8, 8);
        if (iov === null) return EFAULT;
        const dv = new DataView(iov.buffer, iov.byteOffset, 8);
        const ptr = dv.getUint32(0, true);
        const len = dv.getUint32(4, true);
        if (len === 0) continue;
        const data = mem().copy(ptr, len);
        if (data === null) return EFAULT;
        parts.push(data);
      }
      let text = parts.map(fromUtf8).join("");
      const written = parts.reduce((n, p) => n + p.length, 0);
      if (written > 0) {
        if (text.endsWith("\n")) text = text.slice(0, -1);
        log(level, text, fd === 1 ? "stdout" : "stderr");
      }
      return mem().setU32(Number(nwrittenPtr), written) ? ESUCCESS : EFAULT;
    },
    fd_read: () => ENOSYS,
    fd_seek: () => {
      log(1, "wasi_unstable fd_seek", "emulator");
      return ESUCCESS;
    },
    fd_close: () => {
      log(1, "wasi_unstable fd_close", "emulator");
      return ESUCCESS;
    },
    fd_fdstat_get: (fd, statPtr) => {
      if (fd !== 1 && fd !== 2) return EBADF;
      const stat = new Uint8Array(24);
      new DataView(stat.buffer).setBigUint64(8, 64n, true); // fs_rights_base = FD_WRITE
      mem().write(Number(statPtr), stat);
      return ESUCCESS;
    },
    fd_fdstat_set_flags: () => ENOSYS,
    environ_sizes_get: (countPtr, sizePtr) => {
      const entries = envEntries();
      const size = entries.reduce((n, e) => n + e.length, 0);
      return mem().setU32(Number(countPtr), entries.length) && mem().setU32(Number(sizePtr), size) ? ESUCCESS : EFAULT;
    },
    environ_get: (arrayPtr, bufPtr) => {
      let array = Number(arrayPtr);
      let buf = Number(bufPtr);
      for (const entry of envEntries()) {
        if (!mem().setU32(array, buf) || !mem().write(buf, entry)) return EFAULT;
        array += 4;
        buf += entry.length;
      }
      return ESUCCESS;
    },
    args_sizes_get: (argcPtr, sizePtr) =>
      mem().setU32(Number(argcPtr), 0) && mem().setU32(Number(sizePtr), 0) ? ESUCCESS : EFAULT,
    args_get: () => ESUCCESS,
    clock_time_get: (clockId, _precision, timePtr) => {
      const id = Number(clockId);
      if (id !== 0 && id !== 1) return ENOTSUP;
      const ns = id === 0 ? host.clock.nowNanos() : host.clock.monotonicNanos();
      return mem().setU64(Number(timePtr), ns) ? ESUCCESS : EFAULT;
    },
    clock_res_get: (clockId, resPtr) => {
      const id = Number(clockId);
      if (id !== 0 && id !== 1) return ENOTSUP;
      return mem().setU64(Number(resPtr), 1n) ? ESUCCESS : EFAULT;
    },
    random_get: (bufPtr, bufLen) => {
      const len = Number(bufLen) >>> 0;
      if (len > RANDOM_MAX) return EINVAL;
      if (len === 0) return ESUCCESS;
      const bytes = new Uint8Array(len);
      host.random.fill(bytes);
      return mem().write(Number(bufPtr), bytes) ? ESUCCESS : EFAULT;
    },
    sched_yield: () => ESUCCESS,
    poll_oneoff: (_in, _out, _n, neventsPtr) => (mem().setU32(Number(neventsPtr), 0) ? ESUCCESS : EFAULT),
    proc_exit: (code) => {
      // Envoy only logs; the module keeps running.
      log(4, `wasi proc_exit(${Number(code)})`, "emulator");
    },
  };

  const out: Record<string, WasiFunction> = {};
  for (const name of ALL) {
    const body = impl[name] ?? (() => ENOSYS);
    out[name] = (...args) => {
      vm.checkRestricted("wasi", name);
      return body(...args);
    };
  }
  return out;
}
