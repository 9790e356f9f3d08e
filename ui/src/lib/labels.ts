/** A run's or tokenizer's labels (name, notes, tags) as the dashboard edits them, checked as
 * the API checks them. */

/** What a run or tokenizer is called now: its current name, notes and tags. */
export interface JobLabelValues {
  name?: string | null
  notes?: string | null
  tags?: string[]
}

const TAG = /^[A-Za-z0-9_.:-]{1,40}$/

/** "a, b c,A" -> ['a', 'b', 'c'] (split on commas and spaces; each once, compared
 * without case, kept as first typed). */
export function parseTags(text: string): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const t of text.split(/[\s,]+/)) {
    if (t && !seen.has(t.toLowerCase())) {
      seen.add(t.toLowerCase())
      out.push(t)
    }
  }
  return out
}

/** What the API would refuse, said before asking it. */
export function labelsProblem(name: string, tags: readonly string[], notes: string): string {
  if (name.trim().length > 120) return 'name: at most 120 characters'
  if (notes.length > 10_000) return 'notes: at most 10,000 characters'
  if (tags.length > 16) return 'tags: at most 16'
  const bad = tags.find((t) => !TAG.test(t))
  return bad === undefined ? '' : `tags: '${bad}' may hold only letters, digits, -, _, . and : (up to 40)`
}
