// A TLS front for a plain-HTTP test server (s3rver, the Model Registry stand-in, the web server):
// it terminates TLS with a given certificate and pipes the bytes on, so any of them can be reached
// over https behind the test CA without a TLS option of its own.
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';

export interface TlsFront {
  /** The port the front listens on (on `host`). */
  port: number;
  host: string;
  /** Handshakes the client broke off (it refused the certificate): one per attempt. */
  readonly refused: number;
  stop(): Promise<void>;
}

export async function startTlsFront(backend: { host: string; port: number }, cert: { key: string; cert: string }, host = '127.0.0.1'): Promise<TlsFront> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ key: cert.key, cert: cert.cert }, (socket) => {
    const upstream = net.connect(backend.port, backend.host);
    sockets.add(socket).add(upstream);
    socket.pipe(upstream).pipe(socket);
    const end = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  // A client that refuses the certificate ends the handshake with an alert: counted, not fatal.
  let refused = 0;
  server.on('tlsClientError', () => refused++);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    host,
    get refused() {
      return refused;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
