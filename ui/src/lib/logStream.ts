/** Following a run's log: `GET /runs/{id}/logs/stream` (one event per line, id = line
 * number), resuming after the last line seen and never showing a line twice.
 *
 * Two transports speak the same stream:
 * - `EventSource` when no API key is set and nothing was seen yet: the browser reconnects
 *   by itself after a drop, sending `Last-Event-ID`.
 * - `fetch` streaming otherwise: EventSource cannot send headers, so with an API key (and
 *   for any reconnect we make ourselves, which must send `Last-Event-ID`) the stream is read
 *   with fetch and parsed here.
 * The stream ends when the run does; `isEnded` tells a finished run from a dropped link. */
import { ApiError, networkError, toApiError } from '../api/errors'
import { SseParser, type SseEvent } from './sse'
import { formatLogValue } from './format'

export interface TransportHandlers {
  onOpen(): void
  onEvent(event: SseEvent): void
  /** The link dropped and the transport is reconnecting by itself (EventSource). */
  onRetrying(): void
  /** The connection is over: with an error when it failed, without when the stream ended. */
  onClose(error?: ApiError): void
}

export interface Transport {
  close(): void
}

export type Connect = (lastEventId: string | null, handlers: TransportHandlers) => Transport

/** The parts of `EventSource` used here (tests pass a fake). */
export interface EventSourceLike {
  readonly readyState: number
  onopen: ((ev: Event) => unknown) | null
  onerror: ((ev: Event) => unknown) | null
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void
  close(): void
}
export type EventSourceFactory = (url: string) => EventSourceLike

const ES_CLOSED = 2

export function eventSourceTransport(url: string, create: EventSourceFactory): Connect {
  return (_lastEventId, h) => {
    const es = create(url)
    es.onopen = () => h.onOpen()
    es.addEventListener('log', (ev) => h.onEvent({ event: 'log', id: ev.lastEventId, data: ev.data }))
    es.onerror = () => {
      if (es.readyState === ES_CLOSED) {
        h.onClose(
          new ApiError(0, {
            code: 'STREAM_FAILED',
            message: 'the log stream could not be opened',
            request_id: '',
          }),
        )
      } else {
        h.onRetrying()
      }
    }
    return { close: () => es.close() }
  }
}

export interface FetchTransportOptions {
  fetch: typeof fetch
  /** Headers for every request (the API key), read at connect time. */
  headers: () => Record<string, string>
  /** Called with the status of a refused request (401 brings the key prompt back). */
  onStatus?: (status: number) => void
}

export function fetchTransport(url: string, options: FetchTransportOptions): Connect {
  return (lastEventId, h) => {
    const controller = new AbortController()
    const headers: Record<string, string> = { Accept: 'text/event-stream', ...options.headers() }
    if (lastEventId !== null) headers['Last-Event-ID'] = lastEventId
    const read = async (): Promise<void> => {
      let response: Response
      try {
        response = await options.fetch(url, { headers, signal: controller.signal, cache: 'no-store' })
      } catch (err) {
        if (!controller.signal.aborted) h.onClose(networkError(err))
        return
      }
      if (!response.ok || response.body === null) {
        options.onStatus?.(response.status)
        const text = await response.text().catch(() => '')
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // not JSON: keep the text
        }
        if (!controller.signal.aborted) h.onClose(toApiError(response, body))
        return
      }
      h.onOpen()
      const parser = new SseParser((event) => {
        if (!controller.signal.aborted) h.onEvent(event)
      })
      const reader = response.body.getReader()
      const decoder = new TextDecoder()
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          parser.push(decoder.decode(value, { stream: true }))
        }
        parser.push(decoder.decode())
        parser.end()
      } catch (err) {
        if (!controller.signal.aborted) h.onClose(networkError(err))
        return
      }
      if (!controller.signal.aborted) h.onClose()
    }
    void read()
    return { close: () => controller.abort() }
  }
}

/** Lines a log view keeps in memory; older ones are dropped. */
export const MAX_LINES = 5000

export interface LogLine {
  id: number
  data: string
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'error'

export interface FollowerOptions {
  /** Opens a connection; given the last id seen (null before any). */
  connect: Connect
  onLine: (line: LogLine) => void
  onState: (state: StreamState, error?: ApiError) => void
  /** Whether the run has ended (so a closed stream means the end, not a drop). */
  isEnded: () => boolean
  /** Wait before reconnect number `attempt` (0-based); 1 s doubling to 15 s by default. */
  retryDelayMs?: (attempt: number) => number
}

/** Errors after which retrying cannot help until something changes (key, URL). */
function isFinal(error: ApiError | undefined): boolean {
  return error !== undefined && [401, 403, 404, 422].includes(error.status)
}

export class LogFollower {
  private readonly options: FollowerOptions
  private transport: Transport | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private attempt = 0
  private stopped = true
  /** Bumped by every connect and stop: callbacks of an older connection are ignored. */
  private generation = 0
  /** The id (line number) of the last line delivered. */
  lastId: number | null = null

  constructor(options: FollowerOptions) {
    this.options = options
  }

  start(): void {
    this.stopped = false
    this.open()
  }

  stop(): void {
    this.stopped = true
    this.generation += 1
    this.clearTimer()
    this.transport?.close()
    this.transport = null
  }

  /** Connect again now (a new API key), keeping the place in the log. */
  restart(): void {
    this.stop()
    this.attempt = 0
    this.start()
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private open(): void {
    if (this.stopped) return
    this.options.onState(this.attempt === 0 ? 'connecting' : 'reconnecting')
    const lastEventId = this.lastId === null ? null : String(this.lastId)
    this.generation += 1
    const generation = this.generation
    const mine = (): boolean => !this.stopped && this.generation === generation
    const transport = this.options.connect(lastEventId, {
      onOpen: () => {
        if (mine()) this.options.onState('live')
      },
      onEvent: (event) => {
        if (mine()) this.deliver(event)
      },
      onRetrying: () => {
        if (!mine()) return
        if (this.options.isEnded()) this.finish()
        else this.options.onState('reconnecting')
      },
      onClose: (error) => {
        if (!mine()) return
        this.transport = null
        if (error === undefined && this.options.isEnded()) this.finish()
        else if (isFinal(error)) this.options.onState('error', error)
        else this.retry(error)
      },
    })
    if (mine()) this.transport = transport
  }

  private deliver(event: SseEvent): void {
    if (event.event !== 'log' && event.event !== 'message') return
    const id = Number.parseInt(event.id, 10)
    if (!Number.isFinite(id)) return
    if (this.lastId !== null && id <= this.lastId) return // seen already (a replay)
    this.lastId = id
    this.attempt = 0
    this.options.onLine({ id, data: event.data })
  }

  private finish(): void {
    this.stop()
    this.options.onState('ended')
  }

  private retry(error: ApiError | undefined): void {
    const delay = (this.options.retryDelayMs ?? defaultDelay)(this.attempt)
    this.attempt += 1
    this.options.onState('reconnecting', error)
    this.clearTimer()
    this.timer = setTimeout(() => {
      this.timer = null
      this.open()
    }, delay)
  }
}

function defaultDelay(attempt: number): number {
  return Math.min(15_000, 1000 * 2 ** attempt)
}

/** EventSource while it can do the job (no key, nothing to resume after), fetch else. */
export function chooseConnect(
  url: string,
  apiKey: () => string | null,
  deps: { fetch: typeof fetch; eventSource: EventSourceFactory | null; onStatus?: (s: number) => void },
): Connect {
  const viaFetch = fetchTransport(url, {
    fetch: deps.fetch,
    headers: (): Record<string, string> => {
      const key = apiKey()
      return key ? { 'X-Api-Key': key } : {}
    },
    ...(deps.onStatus ? { onStatus: deps.onStatus } : {}),
  })
  const viaEventSource = deps.eventSource ? eventSourceTransport(url, deps.eventSource) : null
  return (lastEventId, handlers) =>
    viaEventSource && apiKey() === null && lastEventId === null
      ? viaEventSource(lastEventId, handlers)
      : viaFetch(lastEventId, handlers)
}

export const LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const
export type Level = (typeof LEVELS)[number]

export interface ParsedLine {
  id: number
  level: Level
  time: string
  event: string
  /** The record's other fields, as `key=value` text. */
  detail: string
  raw: string
}

function levelOf(value: unknown): Level {
  const v = typeof value === 'string' ? value.toLowerCase() : ''
  if (v === 'warn') return 'warning'
  if (v === 'exception' || v === 'fatal') return 'error'
  return (LEVELS as readonly string[]).includes(v) ? (v as Level) : 'info'
}

const HIDDEN = new Set(['timestamp', 'level', 'event', 'service', 'category', 'job_id', 'run_id'])

/** One `logs.jsonl` record (or a line that is not JSON) in readable parts. */
export function parseLogLine(line: LogLine): ParsedLine {
  let record: unknown
  try {
    record = JSON.parse(line.data)
  } catch {
    record = undefined
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    return { id: line.id, level: 'info', time: '', event: line.data, detail: '', raw: line.data }
  }
  const r = record as Record<string, unknown>
  const detail = Object.entries(r)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${formatLogValue(v)}`)
    .join(' ')
  const ts = typeof r['timestamp'] === 'string' ? r['timestamp'] : ''
  return {
    id: line.id,
    level: levelOf(r['level']),
    time: ts.length >= 19 ? ts.slice(11, 19) : ts,
    event: typeof r['event'] === 'string' ? r['event'] : '',
    detail,
    raw: line.data,
  }
}

export function atLeast(level: Level, min: Level): boolean {
  return LEVELS.indexOf(level) >= LEVELS.indexOf(min)
}
