// A minimal HTTP/1.1 client connection for the vote sender (bench/vote-sender.js): one keep-alive socket,
// one request at a time, written as bytes built beforehand; it reads the status line and a Content-Length
// or chunked body, which is all the local host answers with. Anything else fails the request saying what
// it saw.
const net = require('node:net');

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

module.exports = { Connection };
