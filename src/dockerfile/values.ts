/**
 * Value formats inside instructions that BuildKit reads with Go's standard library: durations
 * (`HEALTHCHECK --interval=1m30s`, Go's time.ParseDuration) and `RUN --mount` specs (CSV fields
 * of `key=value`).
 */

const UNITS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n],
  ['\u03bcs', 1_000n],
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);
const MAX_NS = (1n << 63n) - 1n;

/** Go's time.ParseDuration, in nanoseconds; a string describing the problem when invalid. */
export function parseDuration(text: string): number | string {
  const invalid = `invalid duration ${JSON.stringify(text)}`;
  let s = text;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return invalid;
  let total = 0n;
  while (s !== '') {
    const num = /^([0-9]*)(?:\.([0-9]*))?/.exec(s) as RegExpExecArray;
    const whole = num[1] ?? '';
    const frac = num[2];
    if (whole === '' && (frac === undefined || frac === '')) return invalid;
    s = s.slice(num[0].length);
    const unitMatch = /^[^0-9.]*/.exec(s) as RegExpExecArray;
    const unitText = unitMatch[0];
    if (unitText === '') return `missing unit in duration ${JSON.stringify(text)}`;
    const unit = UNITS.get(unitText);
    if (unit === undefined) return `unknown unit ${JSON.stringify(unitText)} in duration ${JSON.stringify(text)}`;
    s = s.slice(unitText.length);
    let v = BigInt(whole === '' ? '0' : whole) * unit;
    if (frac) v += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    total += v;
    if (total > MAX_NS) return invalid;
  }
  return Number(negative ? -total : total);
}

export interface MountField {
  /** Lowercased key: `type`, `target`, `source`, `from`, `id`, `mode`, ... */
  readonly key: string;
  /** Undefined for a bare word such as `ro` or `required`. */
  readonly value?: string;
}

/** Splits a `--mount` spec into CSV fields (double quotes group, `""` is a quote) of key[=value]. */
export function parseMountFields(spec: string): MountField[] {
  const fields: string[] = [];
  let i = 0;
  while (i <= spec.length) {
    let field = '';
    if (spec[i] === '"') {
      i++;
      for (;;) {
        if (i >= spec.length) break;
        if (spec[i] === '"') {
          if (spec[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += spec[i];
        i++;
      }
      // Text after the closing quote up to the comma belongs to the field too.
      while (i < spec.length && spec[i] !== ',') field += spec[i++];
    } else {
      while (i < spec.length && spec[i] !== ',') field += spec[i++];
    }
    fields.push(field);
    i++;
  }
  return fields
    .filter((f) => f !== '')
    .map((f) => {
      const eq = f.indexOf('=');
      return eq < 0 ? { key: f.toLowerCase() } : { key: f.slice(0, eq).toLowerCase(), value: f.slice(eq + 1) };
    });
}
