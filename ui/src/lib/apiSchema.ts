/** The API's own JSON schemas, from the generated `scripts/openapi.json` (the file the
 * typed client is generated from, so both always agree). Forms are built from them with
 * `fieldsOf`: every default and limit shown comes from the API's models. */
import { components } from '../../scripts/openapi.json'
import type { Json, Schemas } from '../api/types'

/** A component schema by name, carrying the components so its `$ref`s resolve. */
export function componentSchema(name: keyof Schemas): Json {
  return { $ref: `#/components/schemas/${name}`, components: components as unknown as Json }
}
