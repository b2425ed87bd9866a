/**
 * Hostile input for property tests (fast-check): strings that have broken web services before (SQL, NUL, lone
 * surrogates, right-to-left and zero-width marks, emoji, huge values), and HTTP bodies with every content type.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';

/** Strings an attacker or a confused client might send. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\t\n\r',
  "'; DROP TABLE session; --",
  "' OR '1'='1",
  '" OR ""="',
  '1; SELECT pg_sleep(10)--',
  "Robert'); DELETE FROM redcap_record WHERE ('1'='1",
  '$1',
  '%s%s%s%n',
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '../../../etc/passwd',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udc00y',
  '\ufeffBOM',
  '\u202eRTL override',
  'zero\u200bwidth',
  'e\u0301\u0301\u0301',
  '😀👩‍👩‍👧‍👦🏳️‍🌈',
  'Ω≈ç√∫˜µ≤≥÷',
  '田中さんにあげて下さい',
  'مرحبا',
  '\u2028\u2029',
  '\x7f\x1b[31mred',
  '%',
  '%%',
  '%zz',
  '%E0%A4%A',
  '%00',
  '+',
  '&',
  '=',
  '__proto__',
  'constructor',
  'toString',
  '[]',
  'a[b]',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e309',
  '99999999999999999999999',
  '0x10',
];

/** One hostile string: a known nasty one, random unicode (including lone surrogates), or a mix. */
export const hostileString = (maxLength = 300): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 1, arbitrary: fc.string({ maxLength }) },
    {
      weight: 2,
      arbitrary: fc
        .array(fc.oneof(fc.constantFrom(...NASTY_STRINGS), fc.string({ unit: 'binary', maxLength: 8 })), {
          maxLength: 6,
        })
        .map((parts) => parts.join('')),
    },
  );

/** A value near or over a size limit: `size` bytes of one repeated character, give or take. */
export const hugeString = (limitBytes: number): fc.Arbitrary<string> =>
  fc
    .tuple(fc.integer({ min: -64, max: 64 }), fc.constantFrom('x', 'é', '田', '%'))
    .map(([delta, ch]) => ch.repeat(Math.max(0, Math.floor((limitBytes + delta) / Buffer.byteLength(ch)))));

/** Text that PostgreSQL and Temporal can hold exactly: no NUL, no lone surrogate. */
export function storable(value: string): boolean {
  return (
    !value.includes('\u0000') && !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value)
  );
}

/** The text with each lone surrogate replaced by U+FFFD, as a UTF-8 encoder does (what a client can send in a URL). */
export function wellFormed(value: string): string {
  return value.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** A form body as raw text, keys and values percent-encoded (or not, when `raw`), duplicates allowed. */
export function formBody(pairs: Array<[string, string]>, raw = false): string {
  const encode = (s: string) => (raw ? s : encodeFormComponent(s));
  return pairs.map(([key, value]) => `${encode(key)}=${encode(value)}`).join('&');
}

/** application/x-www-form-urlencoded encoding of one component; lone surrogates become U+FFFD as a browser would. */
export function encodeFormComponent(value: string): string {
  return new URLSearchParams([['k', value]]).toString().slice(2);
}

export const CONTENT_TYPES = [
  undefined,
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'application/x-www-form-urlencoded; charset=latin1',
  'application/x-www-form-urlencoded; charset=utf-16le',
  'application/x-www-form-urlencoded; charset=x-bogus',
  'APPLICATION/X-WWW-FORM-URLENCODED',
  'application/json',
  'application/json; charset=utf-8',
  'application/vnd.api+json',
  'multipart/form-data; boundary=XyZ',
  'multipart/form-data',
  'text/plain',
  'text/xml',
  'application/octet-stream',
  'image/png',
  '*/*',
  'garbage',
  ';;;',
] as const;

export const CONTENT_ENCODINGS = [
  undefined,
  undefined,
  undefined,
  'identity',
  'gzip',
  'deflate',
  'br',
  'x-unknown',
  'gzip, gzip',
] as const;

/** A multipart body carrying the given fields. */
export function multipartBody(pairs: Array<[string, string]>, boundary = 'XyZ'): string {
  return (
    pairs
      .map(([key, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${value}\r\n`)
      .join('') + `--${boundary}--\r\n`
  );
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The parsed JSON answer, or undefined when it is not JSON. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/**
 * One request with exactly these bytes and headers (supertest would serialize a Buffer sent as JSON or a form).
 * Content-Length is set unless given.
 */
export function rawRequest(
  server: http.Server,
  method: string,
  urlPath: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<RawAnswer> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent,
        headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
        });
      },
    );
    // The server may answer (413, 403) and close before reading all of a big body.
    req.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err),
    );
    req.end(body);
  });
}
