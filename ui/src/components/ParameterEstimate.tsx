import type { ModelSize, RunPublic } from '../api/types'
import { formatNumber } from '../lib/format'
import { estimateParameters, resolveShape, type RunForm } from '../lib/runForm'

/** The model's parameter count, live as the form changes: the API's own count while the
 * model is still exactly the cloned run's, else the GPT-2 formula (gpt2 only). */
export function ParameterEstimate({
  form,
  sizes,
  vocabSize,
  cloned,
}: {
  form: RunForm
  sizes: Record<string, ModelSize> | null
  vocabSize: number | undefined
  cloned: { run: RunPublic; form: RunForm } | null
}) {
  const shape = resolveShape(sizes, form.size, form.model)
  const estimate = estimateParameters(form.family, shape, Number(form.model['max_seq_len']), vocabSize)
  let text: string
  let detail = ''
  if (cloned && sameModel(form, cloned.form)) {
    text = formatNumber(cloned.run.parameters)
    detail = `the API's count for ${cloned.run.run_id}, whose model this still is`
  } else if (form.family !== 'gpt2') {
    text = 'estimate unavailable'
    detail = `computed in the browser for gpt2 only; the API counts ${form.family || 'this family'} when the run is queued`
  } else if (vocabSize === undefined) {
    text = 'estimate unavailable'
    detail = 'choose a completed tokenizer: the vocabulary size counts'
  } else if (estimate === undefined) {
    text = 'estimate unavailable'
    detail = 'check the size and max seq len'
  } else {
    text = `≈ ${formatNumber(estimate)}`
    detail = shape
      ? `${shape.n_layer} × (12·${shape.n_embd}² + 13·${shape.n_embd}) + (${formatNumber(vocabSize)} + ${form.model['max_seq_len']}) · ${shape.n_embd} + 2 · ${shape.n_embd}`
      : ''
  }
  return (
    <div className="estimate" role="status" aria-live="polite">
      <span className="muted">Parameters:</span> <strong data-testid="parameter-estimate">{text}</strong>
      {detail ? <p className="hint">{detail}</p> : null}
    </div>
  )
}

function sameModel(a: RunForm, b: RunForm): boolean {
  const part = (f: RunForm): string => JSON.stringify([f.family, f.size, f.model, f.options, f.tokenizer_id])
  return part(a) === part(b)
}
