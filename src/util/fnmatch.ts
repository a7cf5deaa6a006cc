// Include / exclude patterns with Hugging Face's allow_patterns / ignore_patterns semantics
// (huggingface_hub filter_repo_objects): each pattern is a Python fnmatch pattern matched against
// the whole relative path, where `*` also crosses `/` (so `*.bin` keeps `a/b.bin`), `?` is one
// character, `[seq]` / `[!seq]` a character class; a pattern ending in `/` gets `*` appended (a
// folder and everything below it). A path is kept when it matches some include (or there is none)
// and no exclude.
//
// Why not picomatch or minimatch: both treat `/` as a separator that `*` and `?` never cross (the
// `**` globstar is theirs only between slashes, and matchBase matches the base name alone), so
// neither can be configured to fnmatch's `*.bin` matching `a/b.bin` while `a*` still matches
// `ab/c` — patterns would mean something else than on the Hub. The translation below follows
// Python's fnmatch.translate rule by rule and is a few lines.

export interface PathPatterns {
  /** Empty: every path is included. */
  include: string[];
  exclude: string[];
  /** How the settings are named in messages (`--flag / MODEL_SYNC_ENV`). */
  includeSetting: string;
  excludeSetting: string;
}

/** A pattern as Hugging Face applies it: a trailing `/` stands for everything below. */
function hubPattern(pattern: string): string {
  return pattern.endsWith('/') ? `${pattern}*` : pattern;
}

/** Python's fnmatch.translate: the whole string must match; no character is special to `/`. */
export function fnmatchRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i++]!;
    if (c === '*') {
      while (pattern[i] === '*') i++; // consecutive stars are one
      out += '[\\s\\S]*';
    } else if (c === '?') {
      out += '[\\s\\S]';
    } else if (c === '[') {
      // A class ends at the first `]` not in first position (after an optional `!`).
      let j = i;
      if (pattern[j] === '!') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) {
        out += '\\['; // no closing bracket: a literal `[`
        continue;
      }
      let body = pattern.slice(i, j);
      i = j + 1;
      const negated = body.startsWith('!');
      if (negated) body = body.slice(1);
      // Inside the class only `\`, `]`, `^` and `[` need escaping for a JS RegExp; `a-z` stays a range.
      const escaped = body.replace(/[\\\]^[]/g, '\\$&');
      out += body === '' ? (negated ? '[\\s\\S]' : '(?!)') : `[${negated ? '^' : ''}${escaped}]`;
    } else {
      out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^(?:${out})$`, 'u');
}

/** Whether `path` matches the fnmatch `pattern` (case-sensitive, as Python's fnmatch on POSIX). */
export function fnmatch(path: string, pattern: string): boolean {
  return fnmatchRegExp(pattern).test(path);
}

/** A compiled filter: true when `path` (relative to the model root, `/`-separated) is kept. */
export function pathMatcher(patterns: Pick<PathPatterns, 'include' | 'exclude'>): (path: string) => boolean {
  const include = patterns.include.map((p) => fnmatchRegExp(hubPattern(p)));
  const exclude = patterns.exclude.map((p) => fnmatchRegExp(hubPattern(p)));
  return (path) => (include.length === 0 || include.some((r) => r.test(path))) && !exclude.some((r) => r.test(path));
}

/** Whether any pattern is set (no patterns: nothing is filtered, nothing is counted). */
export function hasPatterns(patterns: PathPatterns | undefined): patterns is PathPatterns {
  return !!patterns && (patterns.include.length > 0 || patterns.exclude.length > 0);
}
