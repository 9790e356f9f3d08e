import { api, unwrap } from '../api/client'
import { useApi } from '../api/useApi'
import { ErrorNotice, Loading } from './States'

/** An artifact's `manifest.json` (how it was made: config, corpus, stats, versions,
 * durations), pretty-printed. Fetched when shown. */
export function ManifestView({ kind, id, refreshKey }: { kind: 'tokenizers' | 'models'; id: string; refreshKey: string }) {
  const manifest = useApi(`manifest:${kind}:${id}:${refreshKey}`, async (signal) => {
    const text = await unwrap(
      api.GET('/artifacts/{kind}/{artifact_id}/download', {
        params: { path: { kind, artifact_id: id }, query: { path: 'manifest.json' } },
        parseAs: 'text',
        signal,
      }),
    )
    try {
      return JSON.stringify(JSON.parse(text), null, 2)
    } catch {
      return text // not JSON after all: shown as it is
    }
  })
  if (manifest.loading) return <Loading what="the manifest" />
  if (manifest.error) return <ErrorNotice error={manifest.error} title="The manifest could not be loaded" onRetry={manifest.refetch} />
  return (
    // focusable so that keyboard users can scroll it
    // oxlint-disable-next-line jsx-a11y/no-noninteractive-tabindex
    <pre className="json" tabIndex={0} aria-label="manifest.json">
      {manifest.data}
    </pre>
  )
}
