/** The API key: asked for once, kept in localStorage, sent as `X-Api-Key`. A 401 anywhere
 * raises `needed`, which brings the prompt back. */

const STORAGE_KEY = 'model-trainer.api-key'

export interface KeyState {
  /** The stored key, or null when none is set. */
  readonly key: string | null
  /** The API refused the key (or asked for one): the prompt should show. */
  readonly needed: boolean
  /** Bumped each time the key changes, so data can be fetched again. */
  readonly version: number
}

type Listener = (state: KeyState) => void

function readStored(): string | null {
  try {
    const value = globalThis.localStorage?.getItem(STORAGE_KEY)
    return value ? value : null
  } catch {
    return null // storage disabled (private mode): the key lives for this page only
  }
}

let state: KeyState = { key: readStored(), needed: false, version: 0 }
const listeners = new Set<Listener>()

function subscribe(listener: Listener): () => void {
  listeners.add(listener)
  return () => {
    listeners.delete(listener)
  }
}

function set(next: KeyState): void {
  state = next
  for (const listener of listeners) listener(state)
}

export const apiKey = {
  get(): string | null {
    return state.key
  },
  state(): KeyState {
    return state
  },
  /** Keep `key` (empty clears it) and hide the prompt. */
  save(key: string): void {
    const trimmed = key.trim()
    try {
      if (trimmed) globalThis.localStorage?.setItem(STORAGE_KEY, trimmed)
      else globalThis.localStorage?.removeItem(STORAGE_KEY)
    } catch {
      // not persisted; still used for this page
    }
    set({ key: trimmed || null, needed: false, version: state.version + 1 })
  },
  /** The API answered 401: ask again. */
  require(): void {
    if (!state.needed) set({ ...state, needed: true })
  },
  /** Show the prompt without a 401 (the header's key button). */
  ask(): void {
    set({ ...state, needed: true })
  },
  dismiss(): void {
    if (state.needed) set({ ...state, needed: false })
  },
  subscribe,
  /** Call `listener` when the key itself changes (saved or cleared), not on prompts. */
  onChange(listener: () => void): () => void {
    let version = state.version
    return subscribe((s) => {
      if (s.version !== version) {
        version = s.version
        listener()
      }
    })
  },
  /** Tests: forget everything. */
  reset(): void {
    try {
      globalThis.localStorage?.removeItem(STORAGE_KEY)
    } catch {
      // ignore
    }
    set({ key: null, needed: false, version: 0 })
  },
}
