import { useState } from 'react'
import { asApiError, type ApiError } from '../api/errors'
import { useArtifactListing, type ArtifactListing } from '../api/useArtifactListing'
import type { ApiState } from '../api/useApi'
import { download, formatBytes } from '../lib/download'
import { Empty, ErrorNotice, Loading } from './States'

/** The files of a tokenizer or run, each downloadable, and the whole folder as a tar. */
export function ArtifactFiles({ kind, id, refreshKey }: { kind: 'tokenizers' | 'models'; id: string; refreshKey: string }) {
  const listing = useArtifactListing(kind, id, refreshKey)
  return <ArtifactFilesList kind={kind} id={id} listing={listing} />
}

/** The files of a listing the page reads itself (and shares with what else needs them). */
export function ArtifactFilesList({ kind, id, listing }: { kind: 'tokenizers' | 'models'; id: string; listing: ApiState<ArtifactListing> }) {
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const base = `/artifacts/${kind}/${encodeURIComponent(id)}/download`
  const get = (path: string | null, name: string): void => {
    setFailure(undefined)
    const url = path === null ? base : `${base}?path=${encodeURIComponent(path)}`
    download(url, name).catch((err: unknown) => setFailure(asApiError(err)))
  }
  if (listing.loading) return <Loading what="files" />
  if (listing.error) return <ErrorNotice error={listing.error} title="Files could not be listed" onRetry={listing.refetch} />
  const files = listing.data?.files ?? []
  return (
    <div>
      {failure ? <ErrorNotice error={failure} title="Download failed" /> : null}
      {files.length === 0 ? (
        <Empty>No files yet.</Empty>
      ) : (
        <ul className="files">
          {files.map((f) => (
            <li key={f.path}>
              <button type="button" className="linklike" onClick={() => get(f.path, f.path.split('/').pop() ?? f.path)}>
                {f.path}
              </button>{' '}
              <span className="muted small">{formatBytes(f.bytes)}</span>
            </li>
          ))}
        </ul>
      )}
      {files.length > 0 ? (
        <button type="button" className="button" onClick={() => get(null, `${id}.tar`)}>
          Download all (.tar)
        </button>
      ) : null}
    </div>
  )
}
