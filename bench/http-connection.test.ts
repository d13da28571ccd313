import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// The vote sender's HTTP reader: the benchmark's figures are only as good as its reading of each answer.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Connection } = require('./http-connection') as {
  Connection: new (
    host: string,
    port: number,
  ) => {
    send(bytes: Buffer): Promise<{ status: number; text: string }>;
    close(): void;
  };
};

function request(path: string, body: string): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([
    Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${b.length}\r\n\r\n`, 'latin1'),
    b,
  ]);
}

describe('the vote sender connection', () => {
  let server: Server;
  let port: number;
  let connections = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/length') {
          res.writeHead(202, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ got: body }));
        } else if (req.url === '/chunked') {
          res.writeHead(409, { 'content-type': 'application/problem+json' });
          res.write('{"code":');
          setTimeout(() => res.end('"VOTE.DUPLICATE","é":1}'), 5);
        } else {
          req.socket.destroy();
        }
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads Content-Length and chunked answers, one after another on one connection', async () => {
    const before = connections;
    const c = new Connection('127.0.0.1', port);
    try {
      expect(await c.send(request('/length', 'jws-1'))).toEqual({ status: 202, text: '{"got":"jws-1"}' });
      expect(await c.send(request('/chunked', ''))).toEqual({
        status: 409,
        text: '{"code":"VOTE.DUPLICATE","é":1}',
      });
      expect(await c.send(request('/length', 'jws-2'))).toEqual({ status: 202, text: '{"got":"jws-2"}' });
    } finally {
      c.close();
    }
    expect(connections - before).toBe(1);
  });

  it('fails the request when the host closes the connection before answering', async () => {
    const c = new Connection('127.0.0.1', port);
    try {
      await expect(c.send(request('/close', ''))).rejects.toThrow(/closed the connection|ECONNRESET/);
    } finally {
      c.close();
    }
  });
});
