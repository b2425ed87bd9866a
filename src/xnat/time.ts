/**
 * XNAT's times. Pure code. XNAT writes `insert_date`, `last_modified` and the prearchive's `uploaded` as its server's
 * local time without a zone (`2021-03-18 11:33:11.835`), so reading one needs the zone the server runs in (the
 * XNAT config's `timezone`, by default the service's own).
 */

const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;

const formats = new Map<string, Intl.DateTimeFormat>();

function formatIn(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formats.set(timeZone, format);
  }
  return format;
}

/** Per zone: its offset (ms) in each quarter hour asked about. Zones change offset only at quarter hours. */
const offsets = new Map<string, Map<number, number>>();
const QUARTER_HOUR = 15 * 60_000;

/** The zone's offset from UTC at an instant, in milliseconds (formatToParts is slow: cached). */
function offsetAt(epochMs: number, timeZone: string): number {
  let zone = offsets.get(timeZone);
  if (!zone) offsets.set(timeZone, (zone = new Map()));
  const quarter = Math.floor(epochMs / QUARTER_HOUR);
  let offset = zone.get(quarter);
  if (offset === undefined) {
    const start = quarter * QUARTER_HOUR;
    offset = wallClockAsUtc(start, timeZone) - start;
    if (zone.size > 100_000) zone.clear();
    zone.set(quarter, offset);
  }
  return offset;
}

/** The wall-clock fields of `epochMs` in `timeZone`, read as if they were UTC (milliseconds kept). */
function wallClockAsUtc(epochMs: number, timeZone: string): number {
  const parts = Object.fromEntries(
    formatIn(timeZone)
      .formatToParts(new Date(epochMs))
      .map((part) => [part.type, part.value]),
  );
  const seconds = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return seconds + (((epochMs % 1000) + 1000) % 1000);
}

/** The service's own zone (TZ), the default zone of an XNAT server. */
export function serviceTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * An XNAT time (`YYYY-MM-DD HH:MM[:SS[.fff]]`, local to `timeZone`) as an instant; undefined for anything else (XNAT
 * sends "" or null for a time it does not have). A local time that a clock change skips or repeats is read with
 * the offset before the change.
 */
export function parseXnatTime(value: unknown, timeZone: string): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const match = LOCAL_TIME.exec(value.trim());
  if (!match) return undefined;
  const [year, month, day, hour, minute, second = '0'] = match.slice(1, 7);
  const millis = Number((match[7] ?? '0').padEnd(3, '0').slice(0, 3));
  const asUtc = Date.UTC(+year, +month - 1, +day, +hour, +minute, +second, millis);
  if (!Number.isFinite(asUtc)) return undefined;
  // The zone's offset at that wall-clock time: one guess, corrected once where it falls across a clock change.
  const offset = offsetAt(asUtc, timeZone);
  const instant = asUtc - offset;
  const corrected = offsetAt(instant, timeZone);
  return new Date(corrected === offset ? instant : asUtc - corrected);
}

/** An instant as XNAT writes it in `timeZone`, e.g. `2021-03-18 11:33:11.835` (for the fake XNAT). */
export function formatXnatTime(date: Date, timeZone: string): string {
  const wall = new Date(date.getTime() + offsetAt(date.getTime(), timeZone)).toISOString();
  return `${wall.slice(0, 10)} ${wall.slice(11, 23)}`;
}
