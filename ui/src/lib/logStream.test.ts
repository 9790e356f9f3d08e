import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FakeEventSource, flush, sse, streamingFetch } from '../test/fakes'
import {
  LogFollower,
  atLeast,
  chooseConnect,
  parseLogLine,
  type LogLine,
  type StreamState,
} from './logStream'
import { SseParser, type SseEvent } from './sse'

const URL_ = '/runs/run-1/logs/stream'

function follower(opts: { key?: string | null; ended?: () => boolean; fetchStatus?: number; body?: unknown }) {
  const lines: LogLine[] = []
  const states: StreamState[] = []
  const { fetchImpl, calls } = streamingFetch(opts.fetchStatus ?? 200, opts.body)
  const key = opts.key ?? null
  const f = new LogFollower({
    connect: chooseConnect(URL_, () => key, {
      fetch: fetchImpl,
      eventSource: (url) => new FakeEventSource(url),
    }),
    onLine: (l) => lines.push(l),
    onState: (s) => states.push(s),
    isEnded: opts.ended ?? (() => false),
    retryDelayMs: () => 1000,
  })
  return { f, lines, states, calls }
}

beforeEach(() => {
  FakeEventSource.instances = []
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
})
afterEach(() => {
  vi.useRealTimers()
})

async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms)
}

describe('SseParser', () => {
  it('reads events split anywhere across chunks, skipping comments', () => {
    const got: SseEvent[] = []
    const p = new SseParser((e) => got.push(e))
    const text = ': ping\r\n\r\n' + sse(1, '{"a":1}') + 'event: log\nid: 2\ndata: two\ndata: lines\n\n'
    for (const ch of text) p.push(ch) // one character at a time
    expect(got).toEqual([
      { event: 'log', id: '1', data: '{"a":1}' },
      { event: 'log', id: '2', data: 'two\nlines' },
    ])
  })

  it('drops an event the stream cut off before its blank line', () => {
    const got: SseEvent[] = []
    const p = new SseParser((e) => got.push(e))
    p.push('id: 3\ndata: half')
    p.end()
    expect(got).toEqual([])
  })
})

describe('LogFollower over EventSource (no API key)', () => {
  it('delivers lines once, even when the browser replays after reconnecting', () => {
    const { f, lines, states } = follower({})
    f.start()
    const es = FakeEventSource.instances[0]
    expect(es?.url).toBe(URL_)
    es?.open()
    es?.emit(1, 'a')
    es?.emit(2, 'b')
    es?.fail(false) // dropped; EventSource reconnects with Last-Event-ID by itself
    expect(states.at(-1)).toBe('reconnecting')
    es?.open()
    es?.emit(2, 'b') // a replay of what was seen
    es?.emit(3, 'c')
    expect(lines.map((l) => l.id)).toEqual([1, 2, 3])
    expect(states.at(-1)).toBe('live')
    f.stop()
  })

  it('when EventSource gives up, resumes over fetch with Last-Event-ID', async () => {
    const { f, lines, calls } = follower({})
    f.start()
    const es = FakeEventSource.instances[0]
    es?.open()
    es?.emit(1, 'a')
    es?.emit(2, 'b')
    es?.fail(true)
    expect(calls).toHaveLength(0)
    await advance(1000)
    expect(calls).toHaveLength(1)
    expect(calls[0]?.headers['last-event-id']).toBe('2')
    calls[0]?.send(sse(2, 'b') + sse(3, 'c'))
    await flush()
    expect(lines.map((l) => l.id)).toEqual([1, 2, 3])
    expect(FakeEventSource.instances).toHaveLength(1)
    f.stop()
  })

  it('stops when the stream ends with the run', () => {
    let ended = false
    const { f, states } = follower({ ended: () => ended })
    f.start()
    const es = FakeEventSource.instances[0]
    es?.open()
    ended = true
    es?.fail(false) // the server closed the stream; the browser would reconnect forever
    expect(states.at(-1)).toBe('ended')
    expect(es?.closed).toBe(true)
  })
})

describe('LogFollower over fetch (API key set)', () => {
  it('sends the key, resumes from the last id after a drop, and skips duplicates', async () => {
    const { f, lines, states, calls } = follower({ key: 'secret' })
    f.start()
    await flush()
    expect(FakeEventSource.instances).toHaveLength(0)
    expect(calls).toHaveLength(1)
    expect(calls[0]?.headers['x-api-key']).toBe('secret')
    expect(calls[0]?.headers['last-event-id']).toBeUndefined()
    calls[0]?.send(sse(1, 'one') + sse(2, 'two'))
    await flush()
    calls[0]?.fail()
    await flush()
    expect(states.at(-1)).toBe('reconnecting')
    await advance(1000)
    expect(calls).toHaveLength(2)
    expect(calls[1]?.headers['last-event-id']).toBe('2')
    expect(calls[1]?.headers['x-api-key']).toBe('secret')
    calls[1]?.send(sse(1, 'one') + sse(2, 'two') + sse(3, 'three'))
    await flush()
    expect(lines).toEqual([
      { id: 1, data: 'one' },
      { id: 2, data: 'two' },
      { id: 3, data: 'three' },
    ])
    f.stop()
    expect(calls[1]?.aborted).toBe(true)
  })

  it('a stream that ends while the run is still going is a drop: reconnect', async () => {
    let ended = false
    const { f, calls, states } = follower({ key: 'k', ended: () => ended })
    f.start()
    await flush()
    calls[0]?.send(sse(5, 'x'))
    calls[0]?.end()
    await flush()
    expect(states.at(-1)).toBe('reconnecting')
    await advance(1000)
    expect(calls[1]?.headers['last-event-id']).toBe('5')
    ended = true
    calls[1]?.end()
    await flush()
    expect(states.at(-1)).toBe('ended')
    await advance(60_000)
    expect(calls).toHaveLength(2)
  })

  it('a 401 stops retrying (the key prompt takes over); restart resumes', async () => {
    const { f, states, calls } = follower({
      key: 'wrong',
      fetchStatus: 401,
      body: { code: 'UNAUTHORIZED', message: 'bad key', request_id: 'r1' },
    })
    f.start()
    await flush()
    expect(states.at(-1)).toBe('error')
    await advance(60_000)
    expect(calls).toHaveLength(1)
    f.restart()
    await flush()
    expect(calls).toHaveLength(2)
    f.stop()
  })

  it('backs off between failed attempts', async () => {
    const lines: LogLine[] = []
    const { fetchImpl, calls } = streamingFetch(503, { code: 'QUEUE_UNAVAILABLE', message: 'x', request_id: '' })
    const f = new LogFollower({
      connect: chooseConnect(URL_, () => 'k', { fetch: fetchImpl, eventSource: null }),
      onLine: (l) => lines.push(l),
      onState: () => undefined,
      isEnded: () => false,
    })
    f.start()
    await flush()
    expect(calls).toHaveLength(1)
    await advance(999)
    expect(calls).toHaveLength(1)
    await advance(1)
    await flush()
    expect(calls).toHaveLength(2) // after 1 s
    await advance(2000)
    await flush()
    expect(calls).toHaveLength(3) // after 2 s more
    await advance(3999)
    expect(calls).toHaveLength(3) // the next waits 4 s
    f.stop()
  })
})

describe('parseLogLine', () => {
  it('reads a JSON record into level, time, event and the rest', () => {
    const p = parseLogLine({
      id: 7,
      data: JSON.stringify({
        timestamp: '2025-01-02T03:04:05.678Z',
        level: 'warning',
        event: 'step',
        service: 'worker',
        loss: 2.5,
      }),
    })
    expect(p).toMatchObject({ id: 7, level: 'warning', time: '03:04:05', event: 'step', detail: 'loss=2.5' })
  })

  it('keeps a line that is not JSON as it is', () => {
    expect(parseLogLine({ id: 1, data: 'plain text' })).toMatchObject({ level: 'info', event: 'plain text' })
  })

  it('orders levels', () => {
    expect(atLeast('error', 'warning')).toBe(true)
    expect(atLeast('info', 'warning')).toBe(false)
  })
})
