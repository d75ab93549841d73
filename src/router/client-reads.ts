// Client sockets read into one buffer per process, through net's `onread`, instead of through the
// Readable stream: no Buffer allocated per read (Node's default reads into a fresh 64 KiB block and
// shrinks it), no push, no 'data' event. Reads are callbacks that run one at a time on the main
// thread, so every accepted plain-TCP socket can share the buffer as long as nothing keeps a view
// of it past the callback: whatever outlives a read (a partial head, a pipelined request, a body
// chunk handed to a write) is copied with `own`; a parsed head keeps strings only (heads.ts).
//
// `onread` is an option of the Socket constructor only, and net.Server makes the accepted sockets
// itself. The option sets three properties under symbols of Node's stream code, which its read path
// honours on any socket; they are found here on a socket made with the option, and set the same way
// on accepted sockets. Where they are not found (another runtime), the caller reads 'data' as before;
// a test asserts they are found on the Node this project ships with.
import net from 'node:net';

const SIZE = 65536;
/** Every client read of this process lands here, one at a time. */
const READ = Buffer.allocUnsafeSlow(SIZE);

interface OnreadKeys {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

function findKeys(): OnreadKeys | null {
  const marker = Buffer.alloc(1);
  const callback = (): boolean => true;
  const generator = (): Buffer => marker;
  const fixed = new net.Socket({ onread: { buffer: marker, callback } });
  const generated = new net.Socket({ onread: { buffer: generator, callback } });
  const keyOf = (s: net.Socket, value: unknown): symbol | null => {
    const found = Object.getOwnPropertySymbols(s).filter((k) => (s as unknown as Record<symbol, unknown>)[k] === value);
    return found.length === 1 ? (found[0] as symbol) : null;
  };
  const buffer = keyOf(fixed, marker);
  const cb = keyOf(fixed, callback);
  const gen = keyOf(generated, generator);
  fixed.destroy();
  generated.destroy();
  if (buffer === null || cb === null || gen === null) return null;
  return { buffer, callback: cb, generator: gen };
}

const KEYS = findKeys();

/** Whether accepted sockets can read into the shared buffer on this runtime. */
export const sharedClientReads = KEYS !== null;

/** Called with the byte count of one read; the bytes are `buf[0, n)` and are valid only during the call. */
export type SharedRead = (this: net.Socket, n: number, buf: Buffer) => void;

interface StreamHandle {
  useUserBuffer?(buf: Uint8Array): void;
}

/**
 * Makes an accepted plain-TCP socket read into the shared buffer and call `onRead` for each read
 * (end, errors, pause and resume work as before). False when it cannot: a TLS socket, bytes already
 * read into the stream, or a runtime without the keys; the caller then reads 'data'.
 */
export function readShared(socket: net.Socket, onRead: SharedRead): boolean {
  const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
  if (KEYS === null || handle === null || typeof handle.useUserBuffer !== 'function') return false;
  if ((socket as net.Socket & { encrypted?: boolean }).encrypted === true || socket.readableLength > 0) return false;
  const s = socket as unknown as Record<symbol, unknown>;
  s[KEYS.buffer] = READ;
  s[KEYS.callback] = onRead;
  s[KEYS.generator] = null;
  handle.useUserBuffer(READ);
  return true;
}

/** `b` itself, or a copy of it when it is a view of the shared read buffer. */
export function own(b: Buffer): Buffer {
  return b.buffer === READ.buffer ? Buffer.from(b) : b;
}
