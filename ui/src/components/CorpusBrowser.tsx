import type { KeyboardEvent } from 'react'
import { useState } from 'react'
import { api, unwrap } from '../api/client'
import type { Schemas } from '../api/types'
import { useApi } from '../api/useApi'
import { formatBytes } from '../lib/download'
import { ErrorNotice, Loading } from './States'

type Entry = Schemas['CorpusEntry']

function files(n: number): string {
  return n === 0 ? 'no corpus files' : `${n.toLocaleString('en')} file${n === 1 ? '' : 's'}`
}

const FORMATS: Record<NonNullable<Entry['format']>, string> = {
  text: 'text',
  jsonl: 'JSON Lines',
  json: 'JSON',
  csv: 'CSV',
  parquet: 'Parquet',
  arrow: 'Arrow',
  saved_dataset: 'saved dataset',
}

/** A structured entry's format, rows and columns ("Parquet, 240 rows, columns: q, a");
 * nothing for plain text and plain folders. */
function structure(e: Entry): string {
  if (!e.format || e.format === 'text') return ''
  const columns: readonly string[] = e.columns ?? []
  const parts = [FORMATS[e.format]]
  if (e.rows != null) parts.push(`${e.rows.toLocaleString('en')} row${e.rows === 1 ? '' : 's'}`)
  if (columns.length > 0) parts.push(`columns: ${columns.join(', ')}`)
  return `, ${parts.join(', ')}`
}

/** The corpus root's folders and corpus files (`GET /corpus?path=`): text, JSON Lines, JSON,
 * CSV, Parquet and `save_to_disk` folders, with what training on each would read and the
 * columns of structured ones; open folders, choose a file, a saved dataset or the folder
 * shown. Escape closes it. */
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
            <p className="muted small">No folders or corpus files here.</p>
          ) : (
            <ul className="corpus-entries">
              {here.data.map((e) => (
                <li key={e.path}>
                  {e.kind === 'folder' && e.format !== 'saved_dataset' ? (
                    <button type="button" className="linklike" onClick={() => setFolder(e.path)} aria-label={`Open folder ${e.name}`}>
                      {e.name}/
                    </button>
                  ) : (
                    <button type="button" className="linklike" onClick={() => onChoose(e.path)} aria-label={`Choose ${e.name}`}>
                      {e.kind === 'folder' ? `${e.name}/` : e.name}
                    </button>
                  )}{' '}
                  <span className="muted small">
                    {formatBytes(e.bytes)}
                    {e.kind === 'folder' && e.format !== 'saved_dataset' ? `, ${files(e.files)}` : ''}
                    {structure(e)}
                  </span>
                  {e.problem ? <span className="small corpus-problem"> {e.problem}</span> : null}
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
