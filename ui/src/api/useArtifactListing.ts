import { api, unwrap } from './client'
import type { Schemas } from './types'
import { useApi, type ApiState } from './useApi'

export type ArtifactListing = Schemas['ArtifactListing']

/** The files of a tokenizer or run (`GET /artifacts/{kind}/{id}`), listed again when
 * `refreshKey` changes and every `intervalMs` when given (a running run saves checkpoints). */
export function useArtifactListing(
  kind: 'tokenizers' | 'models',
  id: string,
  refreshKey: string,
  intervalMs?: number,
): ApiState<ArtifactListing> {
  return useApi(
    `artifacts:${kind}:${id}:${refreshKey}`,
    (signal) => unwrap(api.GET('/artifacts/{kind}/{artifact_id}', { params: { path: { kind, artifact_id: id } }, signal })),
    { intervalMs },
  )
}
