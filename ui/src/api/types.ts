/** Short names for the generated schema's types: aliases only, nothing written by hand. */
import type { components } from '../client/schema'

export type Schemas = components['schemas']
export type ErrorBody = Schemas['ErrorBody']
export type Health = Schemas['Health']
export type JobStatus = Schemas['JobStatus']
export type BackendPublic = Schemas['BackendPublic']
export type RunPublic = Schemas['RunPublic']
export type TokenizerPublic = Schemas['TokenizerPublic']
export type TokenizerTrainConfig = Schemas['TokenizerTrainConfig']
export type MetricRecord = Schemas['MetricRecord']
export type Progress = Schemas['Progress']
export type RunConfig = Schemas['RunConfig']
export type ModelSpec = Schemas['ModelSpec']
export type DataSpec = Schemas['DataSpec']
export type TrainerSpec = Schemas['TrainerSpec']
export type FinetuneSpec = Schemas['FinetuneSpec']
export type FinetuneInfo = Schemas['FinetuneInfo']
export type ModelSize = Schemas['ModelSize']
export type RunEstimatePublic = Schemas['RunEstimatePublic']
export type EvalPublic = Schemas['EvalPublic']
export type GenerateRequest = Schemas['GenerateRequest']
export type GeneratePublic = Schemas['GeneratePublic']
export type EncodePublic = Schemas['EncodePublic']

/** Any JSON value (the schema's `JsonValue` is `unknown`, as JSON Schema's `{}` is). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Statuses after which a job never changes again. */
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set<JobStatus>([
  'completed',
  'failed',
  'cancelled',
])

export function isTerminal(status: JobStatus | undefined): boolean {
  return status !== undefined && TERMINAL_STATUSES.has(status)
}
