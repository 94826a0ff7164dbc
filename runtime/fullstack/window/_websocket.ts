/**
 * A minimal WebSocket server side (RFC 6455) on node:http's 'upgrade' event:
 * the opening handshake, text frames both ways (fragmented messages are
 * reassembled), ping/pong and the closing handshake. Binary messages are
 * refused with close code 1003. Written by hand so the runtime stays free of
 * dependencies. Engine-neutral (node: built-ins only).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

/** The GUID of RFC 6455 section 1.3. */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// Opcodes (RFC 6455 section 5.2).
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

// Close codes (RFC 6455 section 7.4.1).
const CLOSE_NORMAL = 1000;
const CLOSE_PROTOCOL_ERROR = 1002;
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_INVALID_PAYLOAD = 1007;
const CLOSE_TOO_BIG = 1009;

const FIN_BIT = 0x80;
const RSV_BITS = 0x70;
const OPCODE_MASK = 0x0f;
const MASK_BIT = 0x80;
const LENGTH_MASK = 0x7f;
const LENGTH_16 = 126;
const LENGTH_64 = 127;
const MAX_CONTROL_PAYLOAD = 125;

/** The largest message accepted from a page. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** One accepted WebSocket connection. */
export interface WebSocketConnection {
  /** Sends a text message; does nothing once the connection is closing. */
  send(text: string): void;
  /** Starts the closing handshake (and drops the socket shortly after). */
  close(code?: number, reason?: string): void;
  /** Called with each text message. */
  onMessage: (text: string) => void;
  /** Called once when the connection is gone. */
  onClose: () => void;
  /** True until the connection closes. */
  readonly open: boolean;
}

/**
 * Completes the opening handshake of an upgrade request and returns the
 * connection, or answers 400 and returns undefined when the request is not a
 * valid WebSocket handshake (version 13).
 *
 * @param request The upgrade request.
 * @param socket Its socket.
 * @param head The bytes read past the request head.
 * @returns The connection, or undefined.
 */
export function acceptWebSocket(
  request: IncomingMessage,
  socket: Duplex,
  head: Uint8Array,
): WebSocketConnection | undefined {
  const key = request.headers["sec-websocket-key"];
  const version = request.headers["sec-websocket-version"];
  const upgrade = String(request.headers["upgrade"] ?? "").toLowerCase();
  if (
    request.method !== "GET" || upgrade !== "websocket" || typeof key !== "string" ||
    !/^[A-Za-z0-9+/]{22}==$/.test(key) || version !== "13"
  ) {
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    return undefined;
  }
  const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  return new Connection(socket, head);
}

class Connection implements WebSocketConnection {
  onMessage: (text: string) => void = () => {};
  onClose: () => void = () => {};
  #socket: Duplex;
  #buffer: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = -1;
  #open = true;
  #closeSent = false;
  #closed = false;

  constructor(socket: Duplex, head: Uint8Array) {
    this.#socket = socket;
    const s = socket as Duplex & { setNoDelay?: (v: boolean) => void };
    s.setNoDelay?.(true);
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("close", () => this.#finish());
    socket.on("error", () => this.#finish());
    if (head.length > 0) queueMicrotask(() => this.#onData(Buffer.from(head)));
  }

  get open(): boolean {
    return this.#open;
  }

  send(text: string): void {
    if (!this.#open || this.#closeSent) return;
    this.#socket.write(frame(OP_TEXT, Buffer.from(text, "utf8")));
  }

  close(code = CLOSE_NORMAL, reason = ""): void {
    if (this.#closed) return;
    if (!this.#closeSent) {
      this.#closeSent = true;
      const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
      payload.writeUInt16BE(code, 0);
      payload.write(reason, 2, "utf8");
      this.#socket.write(frame(OP_CLOSE, payload));
    }
    this.#open = false;
    // The peer answers with its close frame; do not wait for it for long.
    const timer = setTimeout(() => this.#socket.destroy(), 1000);
    (timer as unknown as { unref?: () => void }).unref?.();
    this.#socket.end();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#open = false;
    this.#socket.destroy();
    this.onClose();
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    while (!this.#closed) {
      const consumed = this.#readFrame();
      if (consumed === 0) return;
      this.#buffer = this.#buffer.subarray(consumed);
    }
  }

  /** Reads one frame from the buffer; returns the bytes consumed, 0 when incomplete. */
  #readFrame(): number {
    const b = this.#buffer;
    if (b.length < 2) return 0;
    const first = b[0]!;
    const second = b[1]!;
    const fin = (first & FIN_BIT) !== 0;
    const opcode = first & OPCODE_MASK;
    if ((first & RSV_BITS) !== 0) return this.#fail(CLOSE_PROTOCOL_ERROR, "reserved bits set");
    if ((second & MASK_BIT) === 0) {
      return this.#fail(CLOSE_PROTOCOL_ERROR, "client frames must be masked");
    }
    let length = second & LENGTH_MASK;
    let offset = 2;
    if (length === LENGTH_16) {
      if (b.length < offset + 2) return 0;
      length = b.readUInt16BE(offset);
      offset += 2;
    } else if (length === LENGTH_64) {
      if (b.length < offset + 8) return 0;
      const big = b.readBigUInt64BE(offset);
      if (big > BigInt(MAX_MESSAGE_BYTES)) return this.#fail(CLOSE_TOO_BIG, "message too big");
      length = Number(big);
      offset += 8;
    }
    if (length > MAX_MESSAGE_BYTES) return this.#fail(CLOSE_TOO_BIG, "message too big");
    if (b.length < offset + 4 + length) return 0;
    const mask = b.subarray(offset, offset + 4);
    offset += 4;
    const payload = Buffer.from(b.subarray(offset, offset + length));
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
    const consumed = offset + length;

    if (opcode >= OP_CLOSE) {
      if (!fin || length > MAX_CONTROL_PAYLOAD) {
        return this.#fail(CLOSE_PROTOCOL_ERROR, "bad control frame");
      }
      if (opcode === OP_CLOSE) {
        this.close(payload.length >= 2 ? payload.readUInt16BE(0) : CLOSE_NORMAL);
        this.#finish();
      } else if (opcode === OP_PING) {
        if (!this.#closeSent) this.#socket.write(frame(OP_PONG, payload));
      } else if (opcode !== OP_PONG) {
        return this.#fail(CLOSE_PROTOCOL_ERROR, "unknown opcode");
      }
      return consumed;
    }
    if (opcode === OP_CONTINUATION) {
      if (this.#fragmentOpcode < 0) return this.#fail(CLOSE_PROTOCOL_ERROR, "stray continuation");
    } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (this.#fragmentOpcode >= 0) {
        return this.#fail(CLOSE_PROTOCOL_ERROR, "expected continuation");
      }
      this.#fragmentOpcode = opcode;
    } else {
      return this.#fail(CLOSE_PROTOCOL_ERROR, "unknown opcode");
    }
    this.#fragmentBytes += payload.length;
    if (this.#fragmentBytes > MAX_MESSAGE_BYTES) {
      return this.#fail(CLOSE_TOO_BIG, "message too big");
    }
    this.#fragments.push(payload);
    if (!fin) return consumed;
    const message = Buffer.concat(this.#fragments);
    const kind = this.#fragmentOpcode;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#fragmentOpcode = -1;
    if (kind === OP_BINARY) return this.#fail(CLOSE_UNSUPPORTED_DATA, "text messages only");
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(message);
    } catch {
      return this.#fail(CLOSE_INVALID_PAYLOAD, "invalid UTF-8");
    }
    try {
      this.onMessage(text);
    } catch { /* a listener's error is not the peer's */ }
    return consumed;
  }

  #fail(code: number, reason: string): number {
    this.close(code, reason);
    this.#finish();
    return 0;
  }
}

/** Builds an unmasked server frame (FIN set). */
function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  let header: Buffer;
  if (length <= MAX_CONTROL_PAYLOAD) {
    header = Buffer.from([FIN_BIT | opcode, length]);
  } else if (length <= 0xffff) {
    header = Buffer.alloc(4);
    header[0] = FIN_BIT | opcode;
    header[1] = LENGTH_16;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = FIN_BIT | opcode;
    header[1] = LENGTH_64;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}
