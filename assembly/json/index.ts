// JSON for the filters: a strict, bounded reader over untrusted UTF-8 (reader.ts), a writer that
// builds valid output by construction (writer.ts), and RFC 8785 canonical serialisation
// (canonical.ts). Nothing here throws or traps on any input.

export { JsonKind, JsonLimits, JsonResult, JsonTree, JsonValue, isJsonAt, checkJsonAt, JsonCheck, parseJson, parseJsonReusing, parseJsonText } from "./reader";
export { JsonWriter } from "./writer";
export { escapeJsonString, quoteJsonString } from "./escape";
export { canonicalJson } from "./canonical";
export {
  E_ARRAY_SEP, E_COLON, E_CONTROL, E_DEPTH, E_DIGIT, E_END, E_ESCAPE, E_KEY, E_LEADING_ZERO,
  E_LITERAL, E_OBJECT_SEP, E_RANGE, E_SIZE, E_SURROGATE, E_TRAILING, E_UNICODE, E_UNTERMINATED,
  E_UTF8, E_VALUE, E_VALUES,
} from "./errors";
