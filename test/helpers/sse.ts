import { timeBudget } from './time.ts';
/** One Server-Sent Event or comment as a client received it. */
export type SseMessage = { event: string; data: any } | { comment: string };

/** A real EventSource-style reader over fetch: records every event and comment in arrival order. */
export function openStream(url: string, token: string) {
  const controller = new AbortController();
  const received: SseMessage[] = [];
  const state = { ended: false };
  const ready = fetch(url, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: controller.signal,
  }).then((res) => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut = buffer.indexOf('\n\n');
          while (cut >= 0) {
            const lines = buffer.slice(0, cut).split('\n');
            buffer = buffer.slice(cut + 2);
            const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
            const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
            if (event && data) received.push({ event, data: JSON.parse(data) });
            for (const l of lines.filter((x) => x.startsWith(':')))
              received.push({ comment: l.slice(1).trim() });
            cut = buffer.indexOf('\n\n');
          }
        }
      } catch {
        // aborted
      }
      state.ended = true;
    })();
    return res;
  });
  const events = (name: string) =>
    received.filter((m): m is { event: string; data: any } => 'event' in m && m.event === name);
  return { ready, received, state, events, close: () => controller.abort() };
}

export type Stream = ReturnType<typeof openStream>;

/** Polls a condition until it holds or a generous deadline passes. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition') {
  const deadline = Date.now() + timeBudget(timeoutMs);
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
