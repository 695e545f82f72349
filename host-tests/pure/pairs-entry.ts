// Test entry for assembly/host/pairs.ts's writers (see io.ts for how bytes cross the boundary).
import { HeaderPair, PairsWriter, serializePairs } from "../../assembly/host/pairs";
import { input, output } from "./io";

export { alloc, byteLength, release } from "./io";

// One writer for every call, as the module keeps one: each list reuses the last one's buffers.
const writer = new PairsWriter();

/** `data`: UTF-16LE text, one "name\tvalue" per line ("" for no pairs). */
function pairsOf(data: usize): HeaderPair[] {
  const text = String.UTF16.decode(input(data));
  const out = new Array<HeaderPair>();
  if (text.length == 0) return out;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const tab = lines[i].indexOf("\t");
    out.push(new HeaderPair(lines[i].substring(0, tab), lines[i].substring(tab + 1)));
  }
  return out;
}

/** The list as PairsWriter lays it out; every `bytesEvery`-th value goes through addBytes (0: none). */
export function written(data: usize, bytesEvery: i32): usize {
  const pairs = pairsOf(data);
  writer.begin();
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i];
    if (bytesEvery > 0 && i % bytesEvery == 0) {
      const v = String.UTF8.encode(p.value);
      writer.addBytes(p.name, changetype<usize>(v), v.byteLength);
    } else {
      writer.add(p.name, p.value);
    }
  }
  writer.finish();
  const out = new ArrayBuffer(writer.length);
  memory.copy(changetype<usize>(out), writer.ptr, <usize>writer.length);
  return output(out);
}

/** The list as serializePairs lays it out. */
export function serialized(data: usize): usize {
  return output(serializePairs(pairsOf(data)));
}
