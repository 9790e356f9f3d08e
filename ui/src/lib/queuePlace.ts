/** A job's place in its queue, in the same words on every face (the CLI says it so too). */
import type { QueuePlace } from '../api/contract'

const SUFFIXES: Record<number, string> = { 1: 'st', 2: 'nd', 3: 'rd' }

/** `1st`, `2nd`, `3rd`, `11th`, `22nd`, `1,001st`. */
export function ordinal(n: number): string {
  const suffix = n % 100 >= 10 && n % 100 <= 20 ? 'th' : (SUFFIXES[n % 10] ?? 'th')
  return `${n.toLocaleString('en')}${suffix}`
}

/** "2nd in line (1 ahead), waiting for a free worker (…)"; "(N ahead)" is left out when
 * none is ahead. Nothing for a job that does not wait. */
export function queuePlaceText(queue: QueuePlace | null | undefined): string | undefined {
  if (!queue) return undefined
  const ahead = queue.ahead ? ` (${queue.ahead.toLocaleString('en')} ahead)` : ''
  return `${ordinal(queue.position)} in line${ahead}, waiting for ${queue.waiting_for}`
}
