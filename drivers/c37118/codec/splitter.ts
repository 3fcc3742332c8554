/**
 * Cuts a TCP byte stream into C37.118 frames. Bytes are searched for SYNC (0xAA followed by a valid
 * type/version byte); FRAMESIZE says where the frame ends; CHK must match before the frame is handed
 * on. On a bad length or CRC the splitter skips one byte and searches again, so one corrupt frame
 * costs that frame only. Memory is bounded: at most one frame (≤ `maxFrameBytes`) is held between
 * pushes. Nothing here throws; every skipped byte run and refused frame is reported to `onReject`.
 */
import { crcCcitt } from './crc.js';
import { MAX_FRAME_BYTES, MIN_FRAME_BYTES, type RejectReason } from './types.js';

export interface SplitterEvents {
  /** A complete frame with a valid CHK (a view into the splitter's buffers: copy it to keep it). */
  onFrame(frame: Uint8Array): void;
  onReject(reason: RejectReason, detail: string): void;
}

/** Second SYNC byte: bit 7 clear, frame type 0-5. */
function validSync1(b: number): boolean {
  return (b & 0x80) === 0 && ((b >> 4) & 7) <= 5;
}

export class FrameSplitter {
  private pending: Uint8Array = new Uint8Array(0);
  /** Bytes skipped since the last frame (reported once when the next frame or a rejection comes). */
  private skipped = 0;
  framesOut = 0;
  bytesIn = 0;

  constructor(
    private readonly events: SplitterEvents,
    private readonly maxFrameBytes = MAX_FRAME_BYTES,
  ) {}

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Forget a partial frame (the connection it came from closed). Reports it as truncated. */
  reset(): void {
    if (this.pending.length > 0) this.events.onReject('truncated', `connection ended ${this.pending.length} bytes into a frame`);
    this.flushSkipped();
    this.pending = new Uint8Array(0);
  }

  private flushSkipped(): void {
    if (this.skipped > 0) {
      this.events.onReject('garbage', `${this.skipped} bytes skipped looking for SYNC`);
      this.skipped = 0;
    }
  }

  push(chunk: Uint8Array): void {
    this.bytesIn += chunk.length;
    let buf: Uint8Array;
    if (this.pending.length === 0) buf = chunk;
    else {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending);
      buf.set(chunk, this.pending.length);
    }
    let o = 0;
    const n = buf.length;
    while (o < n) {
      if (buf[o] !== 0xaa) {
        this.skipped++;
        o++;
        continue;
      }
      if (o + 1 >= n) break;
      if (!validSync1(buf[o + 1]!)) {
        this.skipped++;
        o++;
        continue;
      }
      if (o + 4 > n) break;
      const size = (buf[o + 2]! << 8) | buf[o + 3]!;
      if (size < MIN_FRAME_BYTES || size > this.maxFrameBytes) {
        this.flushSkipped();
        this.events.onReject('bad_length', `FRAMESIZE ${size} at stream byte ${this.bytesIn - n + o} is outside ${MIN_FRAME_BYTES}..${this.maxFrameBytes}`);
        o++;
        continue;
      }
      if (o + size > n) break;
      const chk = (buf[o + size - 2]! << 8) | buf[o + size - 1]!;
      if (crcCcitt(buf, o, o + size - 2) !== chk) {
        this.flushSkipped();
        this.events.onReject('bad_crc', `frame of ${size} bytes at stream byte ${this.bytesIn - n + o}: CHK does not match`);
        o++;
        continue;
      }
      this.flushSkipped();
      this.framesOut++;
      this.events.onFrame(buf.subarray(o, o + size));
      o += size;
    }
    // Keep the unfinished tail (at most one frame) for the next push.
    this.pending = o >= n ? new Uint8Array(0) : buf.slice(o);
  }
}
