// One RGW (dev/rgw.ts) per test file: started in `before`, stopped in `after`.
import { after, before } from 'node:test';
import { startRgw, type Rgw, type RgwOptions } from '../../dev/rgw.js';

/**
 * Registers before/after hooks at the top level of the calling test file and returns a getter:
 * `const rgw = useRgw(); ... rgw().endpoint`. The getter throws when called before `before` ran.
 */
export function useRgw(opts: RgwOptions = {}): () => Rgw {
  let server: Rgw | undefined;
  before(async () => {
    server = await startRgw(opts);
  });
  after(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('useRgw: RGW not started (call the getter inside a test)');
    return server;
  };
}
