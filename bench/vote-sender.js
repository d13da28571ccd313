// Sends pre-signed votes from a worker thread, so the load generator does not share the host's thread.
// Each sender keeps one keep-alive connection and writes requests built before the clock starts (as the
// votes are signed beforehand), then reads each answer with a minimal HTTP/1.1 reader (status line,
// Content-Length or chunked body): the voters are other machines in life, so the sender should take as
// little as it can of the two cores it shares with the host. node:http cost about 0.25 ms of CPU per vote.
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const { readFileSync } = require('node:fs');

/** CPU seconds this thread has used (user + system): /proc/thread-self is the calling thread. */
function threadCpuSeconds() {
  try {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** The request's bytes: a POST of the JWS to the vote's URL. */
function requestBytes(vote) {
  const url = new URL(vote.url);
  const body = Buffer.from(vote.jws, 'utf8');
  const head =
    `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
    `Content-Type: application/jose\r\nContent-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * One keep-alive connection that sends a request and answers the response's status and body text, one
 * request at a time. Anything it cannot read as HTTP/1.1 fails the request with what it saw.
 */
class Connection {
  #socket;
  #buffer = Buffer.alloc(0);
  #waiting;

  constructor(host, port) {
    this.#socket = net.connect({ host, port, noDelay: true });
    this.#socket.on('data', (chunk) => {
      this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
      this.#read();
    });
    const fail = (e) => {
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.reject(e ?? new Error('the host closed the connection'));
    };
    this.#socket.on('error', fail);
    this.#socket.on('close', () => fail());
  }

  send(bytes) {
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#socket.write(bytes);
    });
  }

  #read() {
    if (!this.#waiting) return;
    const end = this.#buffer.indexOf(CRLF2);
    if (end < 0) return;
    const head = this.#buffer.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let body;
    let rest;
    if (length) {
      const start = end + 4;
      if (this.#buffer.length < start + Number(length[1])) return;
      body = this.#buffer.subarray(start, start + Number(length[1]));
      rest = this.#buffer.subarray(start + Number(length[1]));
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const parts = [];
      let at = end + 4;
      for (;;) {
        const line = this.#buffer.indexOf('\r\n', at);
        if (line < 0) return;
        const size = parseInt(this.#buffer.subarray(at, line).toString('latin1'), 16);
        if (this.#buffer.length < line + 2 + size + 2) return;
        if (size === 0) {
          rest = this.#buffer.subarray(line + 4);
          break;
        }
        parts.push(this.#buffer.subarray(line + 2, line + 2 + size));
        at = line + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      const w = this.#waiting;
      this.#waiting = undefined;
      w.reject(new Error(`an answer without a length the sender can read: ${head.split('\r\n')[0]}`));
      return;
    }
    this.#buffer = rest.length ? Buffer.from(rest) : Buffer.alloc(0);
    const w = this.#waiting;
    this.#waiting = undefined;
    w.resolve({ status, text: body.toString('utf8') });
  }

  close() {
    this.#socket.destroy();
  }
}

async function main() {
  const { votes, concurrency } = workerData;
  const { hostname, port } = new URL(votes[0].url);
  const requests = votes.map(requestBytes);
  const connections = Array.from({ length: concurrency }, () => new Connection(hostname, Number(port)));
  const latencies = [];
  // Votes still unanswered per ballot: when a ballot's last one is answered, the main thread is told
  // (with the time on the clock both threads share) and starts watching for its decision.
  const left = new Map();
  for (const v of votes) left.set(v.ballot, (left.get(v.ballot) ?? 0) + 1);
  let next = 0;
  const cpu0 = threadCpuSeconds();
  const t0 = performance.now();
  let last = t0;
  const sender = async (connection) => {
    while (next < votes.length) {
      const i = next++;
      const vote = votes[i];
      const s = performance.now();
      const r = await connection.send(requests[i]);
      if (r.status !== 202) throw new Error(`vote answered ${r.status}: ${r.text}`);
      last = performance.now();
      latencies.push(last - s);
      const remaining = left.get(vote.ballot) - 1;
      left.set(vote.ballot, remaining);
      if (remaining === 0)
        parentPort.postMessage({ ballotDone: vote.ballot, at: performance.timeOrigin + last });
    }
  };
  try {
    await Promise.all(connections.map(sender));
  } finally {
    for (const c of connections) c.close();
  }
  parentPort.postMessage({
    latencies,
    elapsedMs: last - t0,
    startedAt: performance.timeOrigin + t0,
    cpuSeconds: threadCpuSeconds() - cpu0,
  });
}
main().catch((e) => parentPort.postMessage({ error: String(e && e.stack ? e.stack : e) }));
