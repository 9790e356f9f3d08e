import type { BackendPublic } from '../api/types'

/** Whether an installed plugin can be chosen: a broken one is listed, never offered. */
export function usable(b: BackendPublic): boolean {
  return b.status === 'ok'
}
