// The one request every bench variant gets (bench/run.ts and bench/instructions.ts): a 300-byte
// OpenAI chat body naming "llama", an API key, and a sticky session among 16.
import { STICKY_HEADER } from "./variants";

export const BODY_BYTES = 300;

export function chatBody(): Buffer {
  const base = { model: "llama", messages: [{ role: "system", content: "You are a terse assistant." }, { role: "user", content: "" }], max_tokens: 64, temperature: 0.2 };
  const empty = Buffer.byteLength(JSON.stringify(base));
  const filler = "Summarise the benchmark in one sentence please. ";
  base.messages[1].content = filler.repeat(10).slice(0, BODY_BYTES - empty);
  const body = Buffer.from(JSON.stringify(base));
  if (body.length !== BODY_BYTES) throw new Error(`chat body is ${body.length} bytes, not ${BODY_BYTES}`);
  return body;
}

export const BODY = chatBody();
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
