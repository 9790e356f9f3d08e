import { useRef, useState, type KeyboardEvent } from 'react'
import { endsLine, tokenColour, visibleToken } from '../lib/tokens'

/** Pieces drawn at most (a long text can have many thousands of tokens). */
export const MAX_PIECES = 2000

/** Encoded text as coloured pieces: one background per token id (stable), whitespace
 * visible, the id shown on hover and on focus. The pieces are one stop for Tab; the arrow
 * keys (and Home, End) move between them. */
export function TokenPieces({ tokens, ids }: { tokens: readonly string[]; ids: readonly number[] }) {
  const count = Math.min(tokens.length, ids.length)
  const shown = Math.min(count, MAX_PIECES)
  const [active, setActive] = useState(0)
  const [hovered, setHovered] = useState<number | null>(null)
  const refs = useRef<(HTMLButtonElement | null)[]>([])
  const current = Math.min(active, Math.max(0, shown - 1))
  const described = hovered ?? current

  const move = (to: number): void => {
    const next = Math.max(0, Math.min(shown - 1, to))
    setActive(next)
    refs.current[next]?.focus()
  }
  const onKey = (e: KeyboardEvent<HTMLButtonElement>): void => {
    const step: Record<string, number> = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }
    if (e.key in step) move(current + (step[e.key] ?? 0))
    else if (e.key === 'Home') move(0)
    else if (e.key === 'End') move(shown - 1)
    else return
    e.preventDefault()
  }

  if (count === 0) return <p className="muted">No tokens.</p>
  const token = tokens[described] ?? ''
  return (
    <div className="token-view">
      <div className="token-pieces" role="group" aria-label={`Tokens (${count}); arrow keys move between them`}>
        {Array.from({ length: shown }, (_, i) => {
          const id = ids[i] ?? 0
          const text = tokens[i] ?? ''
          const shownText = visibleToken(text)
          return (
            <span key={i} className="token-slot">
              <button
                ref={(el) => {
                  refs.current[i] = el
                }}
                type="button"
                className="token"
                style={{ background: tokenColour(id) }}
                data-id={id}
                tabIndex={i === current ? 0 : -1}
                aria-label={`${shownText}, id ${id}`}
                onFocus={() => setActive(i)}
                onMouseEnter={() => setHovered(i)}
                onMouseLeave={() => setHovered(null)}
                onKeyDown={onKey}
              >
                {shownText}
              </button>
              {endsLine(text) ? <br /> : null}
            </span>
          )
        })}
      </div>
      <p className="token-detail" aria-live="polite" data-testid="token-detail">
        Token {described + 1} of {count}: <code>{JSON.stringify(token)}</code>, id <strong>{ids[described]}</strong>
      </p>
      {count > shown ? (
        <p className="muted small">
          Showing the first {shown.toLocaleString('en')} of {count.toLocaleString('en')} tokens.
        </p>
      ) : null}
    </div>
  )
}
