import { useEffect, useMemo, useRef, useState } from 'react'
import { apiKey } from '../api/apiKey'
import { apiUrl } from '../api/client'
import type { ApiError } from '../api/errors'
import {
  LEVELS,
  LogFollower,
  MAX_LINES,
  atLeast,
  chooseConnect,
  parseLogLine,
  type EventSourceFactory,
  type Level,
  type ParsedLine,
  type StreamState,
} from '../lib/logStream'

const STATE_TEXT: Record<StreamState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  ended: 'ended',
  error: 'stopped',
}

interface Props {
  runId: string
  /** Whether the run has ended (read when the stream closes). */
  ended: boolean
  /** Tests inject these; the browser's own by default. */
  fetchImpl?: typeof fetch
  eventSource?: EventSourceFactory | null
}

const browserEventSource: EventSourceFactory | null =
  typeof EventSource === 'undefined' ? null : (url) => new EventSource(url)

/** A run's log, live: follows `/runs/{id}/logs/stream`, resumes after the last line on
 * reconnect, and filters by level. */
export function LogView({ runId, ended, fetchImpl, eventSource = browserEventSource }: Props) {
  const [lines, setLines] = useState<ParsedLine[]>([])
  const [state, setState] = useState<StreamState>('connecting')
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const [minLevel, setMinLevel] = useState<Level>('info')
  const [follow, setFollow] = useState(true)
  const endedRef = useRef(ended)
  useEffect(() => {
    endedRef.current = ended
  }, [ended])
  const scroller = useRef<HTMLDivElement>(null)
  const followerRef = useRef<LogFollower | null>(null)

  useEffect(() => {
    const url = apiUrl(`/runs/${encodeURIComponent(runId)}/logs/stream`)
    const follower = new LogFollower({
      connect: chooseConnect(url, () => apiKey.get(), {
        fetch: fetchImpl ?? ((input, init) => globalThis.fetch(input, init)),
        eventSource,
        onStatus: (status) => {
          if (status === 401) apiKey.require()
        },
      }),
      onLine: (line) => {
        const parsed = parseLogLine(line)
        setLines((old) => {
          const next = old.length >= MAX_LINES ? old.slice(old.length - MAX_LINES + 1) : old.slice()
          next.push(parsed)
          return next
        })
      },
      onState: (s, err) => {
        setState(s)
        setError(err)
      },
      isEnded: () => endedRef.current,
    })
    followerRef.current = follower
    follower.start()
    // A new API key: connect again, from where the log was.
    const unsubscribe = apiKey.onChange(() => follower.restart())
    return () => {
      unsubscribe()
      follower.stop()
      followerRef.current = null
    }
  }, [runId, fetchImpl, eventSource])

  // A resumed run goes on logging after its log had ended: follow it again from the last line.
  useEffect(() => {
    if (!ended && state === 'ended') followerRef.current?.restart()
  }, [ended, state])

  const shown = useMemo(() => lines.filter((l) => atLeast(l.level, minLevel)), [lines, minLevel])

  useEffect(() => {
    const el = scroller.current
    if (follow && el) el.scrollTop = el.scrollHeight
  }, [shown, follow])

  return (
    <section className="logview" aria-label="Run log">
      <div className="logview-bar">
        <label className="inline">
          Level{' '}
          <select value={minLevel} onChange={(e) => setMinLevel(e.target.value as Level)}>
            {LEVELS.map((l) => (
              <option key={l} value={l}>
                {l === 'debug' ? 'all' : `${l} and above`}
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> follow
        </label>
        <span className={`stream stream-${state}`} role="status" aria-live="polite">
          {STATE_TEXT[state]}
          {error ? ` (${error.code}: ${error.message})` : ''}
        </span>
        <span className="muted small">
          {shown.length} of {lines.length} lines
        </span>
        {state === 'error' ? (
          <button type="button" className="button" onClick={() => followerRef.current?.restart()}>
            Reconnect
          </button>
        ) : null}
      </div>
      {/* focusable so that keyboard users can scroll it */}
      {/* oxlint-disable-next-line jsx-a11y/no-noninteractive-tabindex */}
      <div className="logview-lines" ref={scroller} tabIndex={0} role="log" aria-label="Log lines" data-testid="log-lines">
        {shown.length === 0 ? (
          <p className="muted">{state === 'ended' || ended ? 'No log lines.' : 'Waiting for log lines…'}</p>
        ) : (
          shown.map((l) => (
            <div key={l.id} className={`logline level-${l.level}`} data-id={l.id}>
              <span className="log-time">{l.time}</span>
              <span className="log-level">{l.level}</span>
              <span className="log-event">{l.event}</span>
              {l.detail ? <span className="log-detail"> {l.detail}</span> : null}
            </div>
          ))
        )}
      </div>
    </section>
  )
}
