// Parse error messages, kept together so tests and callers can match them. Short and lower-case,
// like the AssemblyScript standard library's; the byte offset travels separately.

export const E_END = "unexpected end of input";
export const E_VALUE = "expected value";
export const E_TRAILING = "unexpected data after value";
export const E_ARRAY_SEP = "expected ',' or ']' after array item";
export const E_OBJECT_SEP = "expected ',' or '}' after object member";
export const E_KEY = "expected string key";
export const E_COLON = "expected ':' after object key";
export const E_UNTERMINATED = "unterminated string";
export const E_CONTROL = "control character in string";
export const E_ESCAPE = "invalid escape";
export const E_UNICODE = "invalid \\u escape";
export const E_SURROGATE = "lone surrogate escape";
export const E_UTF8 = "invalid UTF-8";
export const E_LITERAL = "invalid literal";
export const E_DIGIT = "expected digit";
export const E_LEADING_ZERO = "leading zero in number";
export const E_RANGE = "number out of range";
export const E_DEPTH = "nesting too deep";
export const E_SIZE = "input too large";
export const E_VALUES = "too many values";
