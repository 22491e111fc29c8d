// A tiny web server on another port: another origin, like an OPD app embedding a feed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HostServer {
  origin: string;
  /** path → HTML body */
  pages: Map<string, string>;
  close(): Promise<void>;
}

export async function startHost(): Promise<HostServer> {
  const pages = new Map<string, string>();
  const server = http.createServer((req, res) => {
    const body = pages.get((req.url ?? '/').split('?')[0] as string);
    res.writeHead(body ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    pages,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
