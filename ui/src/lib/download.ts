import { apiKey } from '../api/apiKey'
import { apiUrl } from '../api/client'
import { toApiError } from '../api/errors'

/** Download a file of the API. With an API key the browser cannot follow a plain link
 * (it would not send `X-Api-Key`), so the file is fetched and handed over as a blob. */
export async function download(path: string, filename: string): Promise<void> {
  const key = apiKey.get()
  const url = apiUrl(path)
  if (!key) {
    const a = document.createElement('a')
    a.href = url
    a.download = filename
    a.click()
    return
  }
  const response = await fetch(url, { headers: { 'X-Api-Key': key } })
  if (!response.ok) {
    if (response.status === 401) apiKey.require()
    const text = await response.text().catch(() => '')
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // keep the text
    }
    throw toApiError(response, body)
  }
  const blob = await response.blob()
  const href = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = href
  a.download = filename
  a.click()
  setTimeout(() => URL.revokeObjectURL(href), 10_000)
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} kB`
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`
}
