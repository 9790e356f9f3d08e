import type { KeyboardEvent } from 'react'
import { useState } from 'react'
import { api, unwrap } from '../api/client'
import { useApi } from '../api/useApi'
import { formatBytes } from '../lib/download'
import { ErrorNotice, Loading } from './States'

function files(n: number): string {
  return n === 0 ? 'no .txt files' : `${n.toLocaleString('en')} .txt file${n === 1 ? '' : 's'}`
}

/** The corpus root's folders and `.txt` files (`GET /corpus?path=`), with what training on
 * each would read; open folders, choose a file or the folder shown. Escape closes it. */
export function CorpusBrowser({ onChoose, onClose }: { onChoose: (path: string) => void; onClose: () => void }) {
  const [folder, setFolder] = useState('')
  const listing = useApi(`corpus:${folder}`, (signal) =>
    unwrap(api.GET('/corpus', { params: { query: folder ? { path: folder } : {} }, signal })),
  )
  const parts = folder ? folder.split('/') : []
  const onKey = (e: KeyboardEvent<HTMLDivElement>): void => {
    if (e.key === 'Escape') {
      e.stopPropagation()
      onClose()
    }
  }
  const here = listing.data
  return (
    // Escape from anywhere inside closes it (its buttons handle everything else)
    // oxlint-disable-next-line jsx-a11y/no-noninteractive-element-interactions
    <div className="corpus-browser" role="group" aria-label="Corpus folder" onKeyDown={onKey}>
      <nav aria-label="Folder" className="crumbs">
        <button type="button" className="linklike" onClick={() => setFolder('')} aria-current={folder === '' ? 'location' : undefined}>
          corpus root
        </button>
        {parts.map((name, i) => {
          const path = parts.slice(0, i + 1).join('/')
          return (
            <span key={path}>
              {' / '}
              <button type="button" className="linklike" onClick={() => setFolder(path)} aria-current={path === folder ? 'location' : undefined}>
                {name}
              </button>
            </span>
          )
        })}
      </nav>
      {listing.loading ? <Loading what="the corpus folder" /> : null}
      {listing.error ? <ErrorNotice error={listing.error} title="The corpus folder could not be listed" onRetry={listing.refetch} /> : null}
      {here ? (
        <>
          {folder ? (
            <button type="button" className="button small" disabled={here.files === 0} onClick={() => onChoose(folder)}>
              Use this folder ({files(here.files)}, {formatBytes(here.bytes)})
            </button>
          ) : null}
          {here.data.length === 0 ? (
            <p className="muted small">No folders or .txt files here.</p>
          ) : (
            <ul className="corpus-entries">
              {here.data.map((e) => (
                <li key={e.path}>
                  {e.kind === 'folder' ? (
                    <button type="button" className="linklike" onClick={() => setFolder(e.path)} aria-label={`Open folder ${e.name}`}>
                      {e.name}/
                    </button>
                  ) : (
                    <button type="button" className="linklike" onClick={() => onChoose(e.path)} aria-label={`Choose ${e.name}`}>
                      {e.name}
                    </button>
                  )}{' '}
                  <span className="muted small">
                    {formatBytes(e.bytes)}
                    {e.kind === 'folder' ? `, ${files(e.files)}` : ''}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </>
      ) : null}
      <button type="button" className="button small" onClick={onClose}>
        Close
      </button>
    </div>
  )
}
