// Shared queues with cpp-host's rules (src/shared_queue.cc, ContextBase::registerSharedQueue):
// - register(vm_id, name) binds the queue to the caller's root context in the caller's VM; a
//   later registrant takes it over (last one wins) and existing items stay. Tokens come from one
//   counter starting at 1; 0 is never a token.
// - resolve(vm_id, name) finds the token (an empty vm_id means the caller's own); NotFound when
//   nobody registered it.
// - enqueue appends and posts `proxy_on_queue_ready(root, token)` to the registrant's dispatcher;
//   it runs after the current call returns, not inside it. dequeue returns Empty when empty.

import { WasmResult, type WasmResultCode } from "./types";

export interface QueueOwner {
  /** Delivers proxy_on_queue_ready if the VM and its root context still exist. */
  queueReady(rootContextId: number, token: number): void;
}

interface Queue {
  vmId: string;
  name: string;
  items: Uint8Array[];
  owner: QueueOwner;
  rootContextId: number;
}

export class SharedQueues {
  private nextToken = 1;
  private readonly tokens = new Map<string, number>();
  private readonly queues = new Map<number, Queue>();

  constructor(private readonly post: (label: string, fn: () => void) => void) {}

  register(vmId: string, name: string, owner: QueueOwner, rootContextId: number): number {
    const key = `${vmId}\0${name}`;
    let token = this.tokens.get(key);
    if (token === undefined) {
      token = this.takeToken();
      this.tokens.set(key, token);
      this.queues.set(token, { vmId, name, items: [], owner, rootContextId });
    } else {
      const queue = this.queues.get(token)!;
      queue.owner = owner;
      queue.rootContextId = rootContextId;
    }
    return token;
  }

  resolve(vmId: string, name: string): number {
    return this.tokens.get(`${vmId}\0${name}`) ?? 0;
  }

  enqueue(token: number, data: Uint8Array): WasmResultCode {
    const queue = this.queues.get(token);
    if (queue === undefined) return WasmResult.NotFound;
    queue.items.push(data.slice());
    const { owner, rootContextId } = queue;
    this.post(`queue ready ${queue.vmId}/${queue.name}`, () => owner.queueReady(rootContextId, token));
    return WasmResult.Ok;
  }

  dequeue(token: number): { result: WasmResultCode; data?: Uint8Array } {
    const queue = this.queues.get(token);
    if (queue === undefined) return { result: WasmResult.NotFound };
    const data = queue.items.shift();
    return data === undefined ? { result: WasmResult.Empty } : { result: WasmResult.Ok, data };
  }

  /** Items waiting in a queue, for assertions. */
  items(vmId: string, name: string): Uint8Array[] {
    const token = this.resolve(vmId, name);
    return token === 0 ? [] : [...this.queues.get(token)!.items];
  }

  deleteVmId(vmId: string): void {
    for (const [key, token] of this.tokens) {
      if (this.queues.get(token)?.vmId !== vmId) continue;
      this.queues.delete(token);
      this.tokens.delete(key);
    }
  }

  private takeToken(): number {
    for (;;) {
      const token = this.nextToken;
      this.nextToken = (this.nextToken + 1) >>> 0;
      if (token !== 0 && !this.queues.has(token)) return token;
    }
  }
}
