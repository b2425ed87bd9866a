/**
 * TLS for tests: certificates made with `openssl` for the test (a CA, a server certificate for a name, a client
 * certificate for mTLS), and TLS-terminating proxies on 127.0.0.1 in front of the suite's plain servers: one for
 * gRPC (Temporal's frontend, ALPN h2), one that speaks PostgreSQL's SSLRequest before its TLS handshake.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface TestCertificates {
  dir: string;
  /** PEM file paths. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed none of them. */
  otherCa: string;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: 'pipe' });

/** A CA, and signed by it a server certificate for `serverNames` (DNS names or IPs) and a client certificate. */
export function makeCertificates(serverNames: string[]): TestCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-'));
  const ca = (name: string) =>
    openssl(
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`]
        .concat(['-keyout', `${name}.key`, '-out', `${name}.pem`])
        .concat(['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']),
      dir,
    );
  ca('test-ca');
  ca('other-ca');
  const leaf = (name: string, extensions: string) => {
    openssl(
      ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`],
      dir,
    );
    fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'test-ca.pem', '-CAkey', 'test-ca.key', '-CAcreateserial'].concat([
        '-days',
        '2',
        '-out',
        `${name}.pem`,
        '-extfile',
        `${name}.ext`,
      ]),
      dir,
    );
  };
  const san = serverNames.map((name) => (net.isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
  leaf('server', `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  const file = (name: string) => path.join(dir, name);
  return {
    dir,
    ca: file('test-ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    otherCa: file('other-ca.pem'),
  };
}

export interface TlsProxy {
  port: number;
  /** TLS sessions that completed the handshake (for mTLS: with a client certificate the CA signed). */
  sessions: number;
  close(): Promise<void>;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

function pipeTo(upstreamPort: number, client: net.Socket, sockets: Set<net.Socket>): void {
  const upstream = net.connect(upstreamPort, '127.0.0.1');
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  }
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.pipe(upstream).pipe(client);
}

function proxyHandle(server: net.Server, sockets: Set<net.Socket>, counter: { sessions: number }): TlsProxy {
  return {
    port: 0,
    get sessions() {
      return counter.sessions;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** gRPC over TLS to a plain gRPC server on `upstreamPort`; `clientCa` set: mTLS, a client certificate it signed required. */
export async function grpcTlsProxy(
  upstreamPort: number,
  certs: TestCertificates,
  options: { clientCa?: string } = {},
): Promise<TlsProxy> {
  const sockets = new Set<net.Socket>();
  const counter = { sessions: 0 };
  const server = tls.createServer(
    {
      key: fs.readFileSync(certs.serverKey),
      cert: fs.readFileSync(certs.serverCert),
      ALPNProtocols: ['h2'],
      ...(options.clientCa
        ? { ca: fs.readFileSync(options.clientCa), requestCert: true, rejectUnauthorized: true }
        : {}),
    },
    (socket) => {
      counter.sessions += 1;
      pipeTo(upstreamPort, socket, sockets);
    },
  );
  server.on('tlsClientError', () => undefined);
  const proxy = proxyHandle(server, sockets, counter);
  proxy.port = await listen(server);
  return proxy;
}

/** PostgreSQL over TLS to a plain PostgreSQL on `upstreamPort`: answers the SSLRequest, then TLS, then pipes. */
export async function postgresTlsProxy(upstreamPort: number, certs: TestCertificates): Promise<TlsProxy> {
  const sockets = new Set<net.Socket>();
  const counter = { sessions: 0 };
  const context = tls.createSecureContext({
    key: fs.readFileSync(certs.serverKey),
    cert: fs.readFileSync(certs.serverCert),
  });
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', (first: Buffer) => {
      // SSLRequest: length 8, code 80877103. Anything else is a client that did not ask for TLS: refused.
      if (first.length !== 8 || first.readInt32BE(4) !== 80877103) {
        socket.destroy();
        return;
      }
      socket.write('S');
      const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
      secure.on('error', () => undefined);
      secure.once('secure', () => {
        counter.sessions += 1;
        pipeTo(upstreamPort, secure as unknown as net.Socket, sockets);
      });
    });
  });
  const proxy = proxyHandle(server, sockets, counter);
  proxy.port = await listen(server);
  return proxy;
}
