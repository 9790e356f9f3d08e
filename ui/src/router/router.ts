/** A tiny hash router: `#/runs/run-1` is the route `/runs/:runId`. Hash routing needs no
 * server fallback, so the built files work from any static server or the API itself. */
import { useEffect, useState } from 'react'

export function currentPath(): string {
  const hash = globalThis.location?.hash ?? ''
  const path = hash.replace(/^#/, '')
  return path.startsWith('/') ? path : '/'
}

export function useHashPath(): string {
  const [path, setPath] = useState(currentPath)
  useEffect(() => {
    const onChange = (): void => setPath(currentPath())
    globalThis.addEventListener('hashchange', onChange)
    return () => globalThis.removeEventListener('hashchange', onChange)
  }, [])
  return path
}

export function navigate(path: string): void {
  globalThis.location.hash = path
}

/** Go to `path` in place of the current entry (a filter changed: Back leaves the page,
 * not each keystroke of the search). */
export function replacePath(path: string): void {
  const url = new URL(globalThis.location.href)
  url.hash = path
  globalThis.location.replace(url.toString())
}

export function href(path: string): string {
  return `#${path}`
}

/** A path segment decoded, or null when it holds a malformed escape (`%E0%A4%A`), on which
 * `decodeURIComponent` throws: such a link leads nowhere rather than blanking the app. */
export function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment)
  } catch {
    return null
  }
}

/** `pattern` like `/runs/:runId`; the params when `path` matches, else null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const clean = path.split('?')[0] ?? ''
  const want = pattern.split('/').filter(Boolean)
  const got = clean.split('/').filter(Boolean)
  if (want.length !== got.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < want.length; i += 1) {
    const w = want[i] ?? ''
    const g = got[i] ?? ''
    if (w.startsWith(':')) {
      const value = decodeSegment(g)
      if (value === null) return null
      params[w.slice(1)] = value
    } else if (w !== g) return null
  }
  return params
}

/** The query of a hash path (`/compare?runs=a,b` -> runs=a,b). */
export function queryOf(path: string): URLSearchParams {
  const at = path.indexOf('?')
  return new URLSearchParams(at < 0 ? '' : path.slice(at + 1))
}

/** The current hash path's query, updating with it. */
export function useQuery(): URLSearchParams {
  return queryOf(useHashPath())
}

/** `/compare` with `runs=a,b` -> `/compare?runs=a,b` (commas kept readable). */
export function withQuery(path: string, query: Record<string, string | undefined>): string {
  const parts = Object.entries(query)
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v).replace(/%2C/g, ',')}`)
  return parts.length > 0 ? `${path}?${parts.join('&')}` : path
}
