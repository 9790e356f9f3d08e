/** How token pieces are shown: a stable colour per id, and whitespace made visible. */

/** A light background for token `id`: hues a golden angle apart, so neighbouring ids differ
 * clearly, and the same id is the same colour everywhere (and on every visit). Lightness
 * alternates in three steps so ids whose hues come close still differ. */
export function tokenColour(id: number): string {
  const hue = Math.round((((id * 137.508) % 360) + 360) % 360)
  const light = [88, 80, 72][((id % 3) + 3) % 3] ?? 84
  return `hsl(${hue} 70% ${light}%)`
}

const VISIBLE: Record<string, string> = {
  ' ': '·',
  '\n': '↵',
  '\r': '␍',
  '\t': '⇥',
  '\u00a0': '⍽',
}

/** The token's text with spaces, tabs and line ends shown as marks (· ⇥ ↵); other
 * invisible characters as their code point. Markers a tokenizer already uses for spaces
 * (byte-level BPE's Ġ, SentencePiece's ▁) are kept: they are already visible. */
export function visibleToken(text: string): string {
  let out = ''
  for (const ch of text) {
    const mark = VISIBLE[ch]
    if (mark !== undefined) out += mark
    else if (/[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}]/u.test(ch)) {
      out += `<U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}>`
    } else out += ch
  }
  return out === '' ? '∅' : out
}

/** Whether a piece ends a line (the view breaks after it). */
export function endsLine(text: string): boolean {
  return text.endsWith('\n')
}
