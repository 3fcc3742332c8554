/**
 * A server-sent event reader over plain fetch (what the page's EventSource does, without a browser):
 * parses `event:` / `data:` blocks as they arrive and lets a test wait for them.
 */
import { waitFor } from '../helpers/wait.js';

export interface SseEvent {
  event: string;
  data: string;
  /** Wall-clock ms when it arrived. */
  at: number;
}

export interface SseStream {
  status: number;
  contentType: string;
  events: SseEvent[];
  /** Resolves when `count` events matching `pred` arrived (deadline `timeoutMs`, default 30 s). */
  waitFor(what: string, pred: (e: SseEvent) => boolean, count?: number, timeoutMs?: number): Promise<SseEvent[]>;
  close(): void;
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream & { body: string }> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ac.signal });
  const events: SseEvent[] = [];
  let body = '';
  let ended: Promise<void> = Promise.resolve();
  if (res.ok && res.body) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    ended = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += value;
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data.push(line.slice(6));
            }
            if (data.length) events.push({ event, data: data.join('\n'), at: Date.now() });
          }
        }
      } catch {
        // aborted by close()
      }
    })();
  } else body = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body,
    events,
    ended,
    close: () => ac.abort(),
    waitFor: (what, pred, count = 1, timeoutMs = 30_000) =>
      waitFor(
        what,
        () => {
          const got = events.filter(pred);
          return got.length >= count ? got : undefined;
        },
        { timeoutMs, intervalMs: 20, detail: () => `${events.filter(pred).length} of ${count} (${events.length} events in all)` },
      ),
  };
}
