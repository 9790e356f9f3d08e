import { render, screen, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { tokenColour, visibleToken } from '../lib/tokens'
import { TokenPieces } from './TokenPieces'

const TOKENS = ['To', 'Ġbe', ',', ' ', 'or', ' ', '\n', '\t', '▁not']
const IDS = [1212, 307, 11, 220, 393, 220, 198, 197, 407]

const pieces = (): HTMLElement[] => within(screen.getByRole('group', { name: /^Tokens/ })).getAllByRole('button')

describe('TokenPieces', () => {
  it('draws one coloured piece per token, whitespace visible, the same id in the same colour', () => {
    render(<TokenPieces tokens={TOKENS} ids={IDS} />)
    const all = pieces()
    expect(all.map((p) => p.textContent)).toEqual(['To', 'Ġbe', ',', '·', 'or', '·', '↵', '⇥', '▁not'])
    const bg = all.map((p) => p.style.background)
    expect(bg[3]).toBe(bg[5]) // id 220 twice
    expect(new Set(bg).size).toBe(8) // eight distinct ids, eight colours
    expect(all[3]?.getAttribute('data-id')).toBe('220')
    expect(all[1]?.getAttribute('aria-label')).toBe('Ġbe, id 307')
    // a line break follows the newline token
    expect(all[6]?.nextElementSibling?.tagName).toBe('BR')
  })

  it('is one Tab stop; arrow keys, Home and End move between pieces and show the id', async () => {
    const user = userEvent.setup()
    render(
      <>
        <button type="button">before</button>
        <TokenPieces tokens={TOKENS} ids={IDS} />
        <button type="button">after</button>
      </>,
    )
    await user.click(screen.getByRole('button', { name: 'before' }))
    await user.tab()
    expect(document.activeElement).toBe(pieces()[0])
    const detail = screen.getByTestId('token-detail')
    expect(detail.textContent).toBe('Token 1 of 9: "To", id 1212')
    await user.keyboard('{ArrowRight}{ArrowRight}')
    expect(document.activeElement).toBe(pieces()[2])
    expect(detail.textContent).toBe('Token 3 of 9: ",", id 11')
    await user.keyboard('{End}')
    expect(detail.textContent).toBe('Token 9 of 9: "▁not", id 407')
    await user.keyboard('{ArrowLeft}')
    expect(detail.textContent).toBe('Token 8 of 9: "\\t", id 197')
    await user.tab()
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'after' })) // one stop only
    await user.hover(pieces()[1] as HTMLElement)
    expect(detail.textContent).toBe('Token 2 of 9: "Ġbe", id 307')
  })
})

describe('token display helpers', () => {
  it('gives each id a fixed colour, different for neighbouring ids', () => {
    expect(tokenColour(307)).toBe(tokenColour(307))
    const near = new Set(Array.from({ length: 50 }, (_, i) => tokenColour(i)))
    expect(near.size).toBe(50)
  })

  it('makes whitespace and invisible characters visible, and keeps tokenizer markers', () => {
    expect(visibleToken(' the')).toBe('·the')
    expect(visibleToken('\r\n')).toBe('␍↵')
    expect(visibleToken('a\u200bb')).toBe('a<U+200B>b')
    expect(visibleToken('Ċ')).toBe('Ċ')
    expect(visibleToken('')).toBe('∅')
  })
})
