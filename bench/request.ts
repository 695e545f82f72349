// The request every bench variant gets (bench/run.ts and bench/instructions.ts): a 300-byte
// OpenAI chat body naming "llama", an API key, and a sticky session among 16. The body is the
// same for every variant (temperature 0.2: the cache passes it by), except for the cache's
// variants, whose bodies are the same size: deterministic (temperature 0) and different on every
// request (a MISS each time), or one deterministic body throughout (a HIT after the first).
import { STICKY_HEADER } from "./variants";

export const BODY_BYTES = 300;

/** What varies between the bodies of a variant's requests. */
export type BodyKind = "plain" | "unique-deterministic" | "same-deterministic";

export function chatBody(temperature = 0.2, tag = ""): Buffer {
  const base = { model: "llama", messages: [{ role: "system", content: "You are a terse assistant." }, { role: "user", content: "" }], max_tokens: 64, temperature };
  const empty = Buffer.byteLength(JSON.stringify(base));
  const filler = "Summarise the benchmark in one sentence please. ";
  base.messages[1].content = (tag + filler.repeat(10)).slice(0, BODY_BYTES - empty);
  const body = Buffer.from(JSON.stringify(base));
  if (body.length !== BODY_BYTES) throw new Error(`chat body is ${body.length} bytes, not ${BODY_BYTES}`);
  return body;
}

export const BODY = chatBody();
// temperature 0 is one byte shorter than 0.2: the filler makes up for it.
const SAME_DETERMINISTIC = chatBody(0);

/** The body of the n-th request of a variant whose bodies are `kind`. */
export function requestBody(kind: BodyKind, n: number): Buffer {
  if (kind === "plain") return BODY;
  if (kind === "same-deterministic") return SAME_DETERMINISTIC;
  return chatBody(0, `Request ${n.toString().padStart(10, "0")}. `);
}
export const SESSIONS = Array.from({ length: 16 }, (_, i) => `session-${i.toString().padStart(4, "0")}`);

/** Request headers for the n-th request (its session taken in turn). */
export function requestHeaders(n: number): Record<string, string | number> {
  return {
    "content-type": "application/json",
    "content-length": BODY.length,
    authorization: "Bearer sk-bench-0000000000000000",
    [STICKY_HEADER]: SESSIONS[n % SESSIONS.length],
  };
}
