// JSON parsing that keeps integers beyond Number.MAX_SAFE_INTEGER exact (as bigint), so that a
// 20-digit id in a custom property is not silently rounded. Used after JSON.parse has accepted the
// text, so error reporting stays with JSON.parse.

export type ExactJson = string | number | bigint | boolean | null | ExactJson[] | { [key: string]: ExactJson };

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
    if (!m[2] && !m[3] && !Number.isSafeInteger(n)) return BigInt(m[0]);
    return n;
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
  if (Array.isArray(value)) return `[${value.map(stringifyExact).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${stringifyExact(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
