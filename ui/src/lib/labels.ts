/** A run's or tokenizer's labels (name, notes, tags) as the dashboard edits them, checked as
 * the API checks them. */
import type { LabelsPatch } from '../api/contract'

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

/** Characters as the API counts them (code points): an emoji is one, not two UTF-16 units. */
function characters(text: string): number {
  return [...text].length
}

/** What the API would refuse, said before asking it. */
export function labelsProblem(name: string, tags: readonly string[], notes: string): string {
  if (characters(name.trim()) > 120) return 'name: at most 120 characters'
  if (characters(notes) > 10_000) return 'notes: at most 10,000 characters'
  if (tags.length > 16) return 'tags: at most 16'
  const bad = tags.find((t) => !TAG.test(t))
  return bad === undefined ? '' : `tags: '${bad}' may hold only letters, digits, -, _, . and : (up to 40)`
}

/** The change from the labels an edit began with (`opened`) to what the form holds now, or
 * null when there is none. Only what changed is sent, and tags go as `add_tags` /
 * `remove_tags` (never the whole list), so an edit made meanwhile elsewhere (a tag added
 * from the command line, a new name) is kept. Tags compare without case, as the API's do. */
export function labelsPatch(opened: JobLabelValues, name: string, tags: readonly string[], notes: string): LabelsPatch | null {
  const patch: LabelsPatch = { add_tags: [], remove_tags: [] }
  const newName = name.trim() || null
  if (newName !== (opened.name || null)) patch.name = newName
  const newNotes = notes.trim() ? notes : null
  if (notes !== (opened.notes ?? '') && newNotes !== (opened.notes || null)) patch.notes = newNotes
  const before = opened.tags ?? []
  const had = new Set(before.map((t) => t.toLowerCase()))
  const has = new Set(tags.map((t) => t.toLowerCase()))
  patch.add_tags = tags.filter((t) => !had.has(t.toLowerCase()))
  patch.remove_tags = before.filter((t) => !has.has(t.toLowerCase()))
  const changed = 'name' in patch || 'notes' in patch || patch.add_tags.length > 0 || patch.remove_tags.length > 0
  return changed ? patch : null
}
