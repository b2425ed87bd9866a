/**
 * The data converter of every Temporal client and worker of the service (API, worker, CLI, `npm start`): the SDK's
 * default payload converter, and a payload codec that encrypts each payload with AES-256-GCM when TEMPORAL_CODEC_KEYS
 * (or TEMPORAL_CODEC_KEY) is set, so Temporal stores, and its Web UI shows, ciphertext only (docs/participant-data.md).
 *
 * Each encrypted payload names its key in its metadata (`encryption-key-id`): the first key encrypts, every key
 * listed decrypts, so a key is rotated by listing the new one first and keeping the old one until no running
 * workflow holds payloads it encrypted. Payloads that are not encrypted (histories from before encryption was turned
 * on) pass through, so turning it on breaks no running workflow. A payload whose key is not listed fails with a
 * message that names the key id: in a worker that is a failed workflow task, retried until a worker has the key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  METADATA_ENCODING_KEY,
  ValueError,
  type DataConverter,
  type Payload,
  type PayloadCodec,
} from '@temporalio/common';
import { temporal } from '@temporalio/proto';

/** A key of TEMPORAL_CODEC_KEYS: its id (kept in each payload it encrypts) and its 32 bytes. */
export interface CodecKey {
  id: string;
  key: Buffer;
}

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

export class EncryptionCodec implements PayloadCodec {
  private readonly keys: Map<string, Buffer>;
  private readonly encryptWith: CodecKey | undefined;

  /** `keys`: the first encrypts; with none, payloads are left as they are (and encrypted ones cannot be read). */
  constructor(keys: CodecKey[]) {
    this.keys = new Map(keys.map(({ id, key }) => [id, key]));
    this.encryptWith = keys[0];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.encryptWith;
    if (!key) return payloads;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key.key, iv);
      // The key id is authenticated too: a payload cannot be passed off as encrypted with another key.
      cipher.setAAD(Buffer.from(key.id));
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: Buffer.from(key.id),
        },
        data: Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
      const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
      if (keyId === undefined) throw new ValueError('an encrypted payload has no encryption-key-id in its metadata');
      const key = this.keys.get(keyId);
      if (!key) {
        const held = [...this.keys.keys()];
        throw new ValueError(
          `a payload is encrypted with key id "${keyId}", which ${
            held.length > 0
              ? `TEMPORAL_CODEC_KEYS does not hold (it holds ${held.join(', ')})`
              : 'cannot be read here: TEMPORAL_CODEC_KEYS is unset'
          }; add that key to TEMPORAL_CODEC_KEYS`,
        );
      }
      const data = Buffer.from(payload.data ?? []);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(keyId));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        const plain = Buffer.concat([
          decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
          decipher.final(),
        ]);
        return temporal.api.common.v1.Payload.decode(plain);
      } catch {
        throw new ValueError(
          `a payload encrypted with key id "${keyId}" does not decrypt with the key of that id in TEMPORAL_CODEC_KEYS (another key under the same id, or a damaged payload)`,
        );
      }
    });
  }
}

/** What every Client and Worker of the service is given (`dataConverter`). */
export function serviceDataConverter(keys: CodecKey[]): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keys)] };
}
