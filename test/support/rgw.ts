// One RGW (dev/rgw.ts) per test file: started in `before`, stopped in `after`.
import { after, before } from 'node:test';
import { startRgw, type Rgw, type RgwOptions } from '../../dev/rgw.js';

export interface RgwHandle {
  /** The running RGW, inside tests (throws before it started). */
  (): Rgw;
  /**
   * Resolves once it runs: await it in the file's own `before` hooks, since Node 20 runs
   * top-level `before` hooks concurrently, not one after the other.
   */
  ready: Promise<Rgw>;
}

/** Registers before/after hooks at the top level of the calling test file: `const rgw = useRgw(); ... rgw().endpoint`. */
export function useRgw(opts: RgwOptions = {}): RgwHandle {
  let server: Rgw | undefined;
  let settle!: { resolve(r: Rgw): void; reject(e: unknown): void };
  const ready = new Promise<Rgw>((resolve, reject) => (settle = { resolve, reject }));
  ready.catch(() => undefined); // the failing `before` reports it
  before(async () => {
    try {
      server = await startRgw(opts);
      settle.resolve(server);
    } catch (err) {
      settle.reject(err);
      throw err;
    }
  });
  after(async () => {
    await server?.stop();
  });
  const get = () => {
    if (!server) throw new Error('useRgw: RGW not started (inside a before hook, await rgw.ready)');
    return server;
  };
  return Object.assign(get, { ready });
}

/** The source settings of an S3 source `key` (object or prefix) in the RGW's first bucket. */
export function rgwSourceEnv(s3: Rgw, key: string): Record<string, string> {
  return {
    MODEL_SYNC_SOURCE_TYPE: 's3',
    MODEL_SYNC_SOURCE_AWS_BUCKET: s3.bucket,
    MODEL_SYNC_SOURCE_AWS_KEY: key,
    MODEL_SYNC_SOURCE_AWS_ENDPOINT: s3.endpoint,
    MODEL_SYNC_SOURCE_AWS_ACCESS_KEY_ID: s3.accessKey,
    MODEL_SYNC_SOURCE_AWS_SECRET_ACCESS_KEY: s3.secretKey,
  };
}
