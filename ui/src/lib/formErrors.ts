/** Field errors of a form: editing a field clears what was said of it. No React here. */

type Flat = Readonly<Record<string, string | boolean>>

/** The keys whose values differ between two flat forms (a missing key reads as empty). */
export function changedFields(before: Flat, after: Flat): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => (before[k] ?? '') !== (after[k] ?? ''))
}

/** `errors` without those the edits from `before` to `after` answer; `errorKeysOf` names
 * the error keys a changed field answers (by default, the field's own name). The same
 * object back when nothing goes, so a state update can be skipped. */
export function clearEditedErrors(
  errors: Record<string, string>,
  before: Flat,
  after: Flat,
  errorKeysOf: (key: string) => string[] = (key) => [key],
): Record<string, string> {
  const drop = new Set(changedFields(before, after).flatMap(errorKeysOf))
  if (drop.size === 0) return errors
  const kept = Object.entries(errors).filter(([k]) => !drop.has(k))
  return kept.length === Object.keys(errors).length ? errors : Object.fromEntries(kept)
}
