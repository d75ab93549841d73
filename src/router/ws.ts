// WebSocket frame boundaries in a tunnel, so a drain can close it with a proper close frame (1001,
// "going away") instead of cutting it: a close frame may only be written between two frames.
import { randomBytes } from 'node:crypto';

export class WsFrames {
  private readonly hdr = Buffer.alloc(14);
  private hdrLen = 0;
  private hdrNeed = 2;
  private payload = 0;

  atBoundary(): boolean {
    return this.hdrLen === 0 && this.payload === 0;
  }

  /**
   * Follows the frames in `buf`. With `stop`, returns the offset of the first frame boundary in it
   * (0 when already between frames); otherwise, or when none is reached, returns -1.
   */
  feed(buf: Buffer, stop: boolean): number {
    const n = buf.length;
    let i = 0;
    for (;;) {
      if (stop && this.hdrLen === 0 && this.payload === 0) return i;
      if (i >= n) return -1;
      if (this.payload > 0) {
        const take = Math.min(this.payload, n - i);
        this.payload -= take;
        i += take;
        continue;
      }
      this.hdr[this.hdrLen++] = buf[i++] as number;
      if (this.hdrLen === 2) {
        const b1 = this.hdr[1] as number;
        const len7 = b1 & 127;
        this.hdrNeed = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 128 ? 4 : 0);
      }
      if (this.hdrLen >= 2 && this.hdrLen === this.hdrNeed) {
        const len7 = (this.hdr[1] as number) & 127;
        this.payload = len7 === 126 ? this.hdr.readUInt16BE(2) : len7 === 127 ? Number(this.hdr.readBigUInt64BE(2)) : len7;
        this.hdrLen = 0;
        this.hdrNeed = 2;
      }
    }
  }
}

/** Close frame 1001 from the server side (unmasked), written to the client. */
export const CLOSE_GOING_AWAY_TO_CLIENT = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/** Close frame 1001 from the client side (masked, as RFC 6455 requires), written to the upstream. */
export function closeGoingAwayToServer(): Buffer {
  const m = randomBytes(4);
  return Buffer.from([0x88, 0x82, m[0]!, m[1]!, m[2]!, m[3]!, 0x03 ^ m[0]!, 0xe9 ^ m[1]!]);
}
