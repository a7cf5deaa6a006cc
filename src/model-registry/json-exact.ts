// JSON parsing that keeps what JSON.parse loses: integers beyond Number.MAX_SAFE_INTEGER stay exact
// (as bigint), so that a 20-digit id in a custom property is not silently rounded, and a number
// written with a fraction or an exponent (`1.0`, `0.95`, `1e3`) stays a double, as Python's
// json.loads keeps it a float (upstream then stores a MetadataDoubleValue). Used after JSON.parse
// has accepted the text, so error reporting stays with JSON.parse.

/** A number written with a fraction or an exponent; `text` is the literal as written. */
export class JsonDouble {
  constructor(
    readonly value: number,
    readonly text: string,
  ) {}
}

/** Integers are `number` (safe) or `bigint` (beyond 2^53-1); other numbers are JsonDouble. */
export type ExactJson = string | number | bigint | boolean | null | JsonDouble | ExactJson[] | { [key: string]: ExactJson };

export function parseJsonExact(text: string): ExactJson {
  let pos = 0;
  const ws = () => {
    while (pos < text.length && ' \t\n\r'.includes(text[pos]!)) pos++;
  };
  const value = (): ExactJson => {
    ws();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: { [key: string]: ExactJson } = {};
      ws();
      if (text[pos] === '}') return pos++, obj;
      for (;;) {
        ws();
        const key = str();
        ws();
        expect(':');
        obj[key] = value();
        ws();
        if (text[pos] === ',') pos++;
        else return expect('}'), obj;
      }
    }
    if (c === '[') {
      pos++;
      const arr: ExactJson[] = [];
      ws();
      if (text[pos] === ']') return pos++, arr;
      for (;;) {
        arr.push(value());
        ws();
        if (text[pos] === ',') pos++;
        else return expect(']'), arr;
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, pos)) return (pos += word.length), v;
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(pos, pos + 400));
    if (!m) throw new SyntaxError(`unexpected character at position ${pos}`);
    pos += m[0].length;
    const n = Number(m[0]);
    if (m[2] || m[3]) return new JsonDouble(n, m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  };
  const str = (): string => {
    const start = pos;
    expect('"');
    while (pos < text.length && text[pos] !== '"') pos += text[pos] === '\\' ? 2 : 1;
    expect('"');
    return JSON.parse(text.slice(start, pos)) as string;
  };
  const expect = (ch: string) => {
    if (text[pos] !== ch) throw new SyntaxError(`expected ${ch} at position ${pos}`);
    pos++;
  };
  const result = value();
  ws();
  if (pos !== text.length) throw new SyntaxError(`unexpected text at position ${pos}`);
  return result;
}

/** JSON text of a value that may hold bigints (written as plain integer literals). */
export function stringifyExact(value: ExactJson): string {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof JsonDouble) return value.text;
  if (Array.isArray(value)) return `[${value.map(stringifyExact).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${stringifyExact(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
