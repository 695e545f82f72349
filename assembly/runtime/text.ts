// Client or configuration text shortened for a message.

/**
 * `text` cut to at most `max` UTF-16 units, with "..." when cut. A cut never splits a surrogate
 * pair: half of one is no character, and the JSON writer would emit it as a lone `\ud83d` escape
 * that strict parsers refuse (and that our own reader refuses on input).
 */
export function shortened(text: string, max: i32): string {
  if (text.length <= max) return text;
  let cut = max;
  if (cut > 0 && <u32>text.charCodeAt(cut - 1) - 0xd800 < 0x400) cut--;
  return text.substring(0, cut) + "...";
}
