import type { BackendPublic } from '../api/types'
import { usable } from '../lib/backends'

/** The `<option>`s of a plugin picker: an outside package named, a broken one disabled
 * with its reason. */
export function BackendOptions({ backends }: { backends: readonly BackendPublic[] }) {
  return (
    <>
      {backends.map((b) => (
        <option key={b.name} value={b.name} disabled={!usable(b)}>
          {b.name}
          {b.distribution !== 'model-trainer' ? ` (${b.distribution})` : ''}
          {usable(b) ? '' : ` — broken: ${b.reason ?? 'unavailable'}`}
        </option>
      ))}
    </>
  )
}
