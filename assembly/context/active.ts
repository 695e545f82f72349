// The context whose callback is running. Calls that must switch the host's effective context
// (`done()` of a root context) switch it back to this one, or the rest of a stream callback would
// act on the root: Envoy then drops local responses and refuses header writes.

let active: u32 = 0;

// @ts-ignore: decorator
@inline
export function setActiveContext(id: u32): void {
  active = id;
}

export function activeContext(): u32 {
  return active;
}
