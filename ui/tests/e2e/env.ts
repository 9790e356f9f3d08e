/** Where the browser tests find their two private stacks (see stack.py), shared by the
 * Playwright config and the tests. Ports can be moved with MT_E2E_PORT and
 * MT_E2E_KEY_PORT when these are taken. */

function port(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a port number`)
  return value
}

/** The stack without an API key: most tests. */
export const API_PORT = port('MT_E2E_PORT', 18731)
/** The stack with SECURITY__API_KEY set: the key prompt test. */
export const KEY_API_PORT = port('MT_E2E_KEY_PORT', 18732)
export const API_KEY = 'e2e-secret-key'

export const API_URL = `http://127.0.0.1:${API_PORT}`
export const KEY_API_URL = `http://127.0.0.1:${KEY_API_PORT}`

/** The dashboard as users open it: served by the API itself. */
export const UI_URL = `${API_URL}/ui/`
export const KEY_UI_URL = `${KEY_API_URL}/ui/`

