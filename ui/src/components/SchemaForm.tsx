import { useMemo } from 'react'
import type { Json } from '../api/types'
import { fieldsOf, type Field, type RawValues } from '../lib/schemaForm'

/** A string field allowed more characters than this is edited in a textarea. */
const LONG_TEXT = 1024

interface Props {
  /** A plugin's `options_schema` from `GET /backends`. */
  schema: Json | undefined
  values: RawValues
  onChange: (values: RawValues) => void
  /** A message per option name (client checks, or the API's 422 naming `options.<name>`). */
  errors?: Record<string, string>
  /** Prefix of the inputs' ids (unique on the page). */
  idPrefix?: string
  disabled?: boolean
  /** Show only these fields (in the schema's order); all when undefined. */
  only?: readonly string[]
  /** Placeholders by field name (e.g. the value an empty override stands for). */
  placeholders?: Record<string, string>
  /** The values this form started from (a cloned run's): a field that differs from its
   * value here is marked changed, with a button putting that value back. */
  baseline?: RawValues | undefined
}

/** A form built from a JSON schema: text, number, checkbox and select inputs with the
 * schema's defaults, limits and descriptions, and an error under each field. */
export function SchemaForm({
  schema,
  values,
  onChange,
  errors = {},
  idPrefix = 'opt',
  disabled = false,
  only,
  placeholders = {},
  baseline,
}: Props) {
  // the schemas are constants or a plugin's: read once each
  const all = useMemo(() => fieldsOf(schema), [schema])
  const fields = only ? all.filter((f) => only.includes(f.name)) : all
  if (fields.length === 0) {
    return <p className="muted small">No options for this choice.</p>
  }
  const set = (name: string, value: string | boolean): void => onChange({ ...values, [name]: value })
  return (
    <div className="schema-form">
      {fields.map((field) => (
        <SchemaField
          key={field.name}
          field={field}
          id={`${idPrefix}-${field.name}`}
          value={values[field.name]}
          error={errors[field.name]}
          disabled={disabled}
          placeholder={placeholders[field.name]}
          onChange={(v) => set(field.name, v)}
          cloned={baseline && baseline[field.name] !== values[field.name] ? (baseline[field.name] ?? '') : undefined}
        />
      ))}
    </div>
  )
}

function SchemaField({
  field,
  id,
  value,
  error,
  disabled,
  placeholder,
  onChange,
  cloned,
}: {
  field: Field
  id: string
  value: string | boolean | undefined
  error: string | undefined
  disabled: boolean
  placeholder: string | undefined
  onChange: (value: string | boolean) => void
  /** The cloned run's value when this one differs from it. */
  cloned?: string | boolean | undefined
}) {
  const hintId = `${id}-hint`
  const errorId = `${id}-error`
  const describedBy = [field.description ? hintId : '', error ? errorId : '']
    .filter(Boolean)
    .join(' ')
  const common = {
    id,
    name: field.name,
    disabled,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': describedBy || undefined,
  }
  const text = typeof value === 'string' ? value : ''
  let input
  switch (field.kind) {
    case 'boolean':
      input = (
        <input {...common} type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} />
      )
      break
    case 'enum':
      input = (
        <select {...common} value={text} onChange={(e) => onChange(e.target.value)}>
          {field.required && field.default === undefined ? <option value="">choose…</option> : null}
          {!field.required && field.default === undefined ? <option value="">(default)</option> : null}
          {field.choices.map((choice) => (
            <option key={JSON.stringify(choice)} value={JSON.stringify(choice)}>
              {typeof choice === 'string' ? choice : JSON.stringify(choice)}
            </option>
          ))}
        </select>
      )
      break
    case 'integer':
    case 'number':
      input = (
        <input
          {...common}
          type="number"
          inputMode={field.kind === 'integer' ? 'numeric' : 'decimal'}
          step={field.kind === 'integer' ? 1 : 'any'}
          min={field.minimum}
          max={field.maximum}
          value={text}
          placeholder={placeholder ?? defaultPlaceholder(field)}
          onChange={(e) => onChange(e.target.value)}
        />
      )
      break
    case 'string':
      // Long texts (a corpus's `text_template`) may span lines.
      input = (field.maxLength ?? 0) > LONG_TEXT ? (
        <textarea {...common} rows={3} spellCheck={false} value={text} maxLength={field.maxLength} onChange={(e) => onChange(e.target.value)} />
      ) : (
        <input
          {...common}
          type="text"
          value={text}
          maxLength={field.maxLength}
          onChange={(e) => onChange(e.target.value)}
        />
      )
      break
    case 'json':
      input = (
        <textarea {...common} rows={3} spellCheck={false} value={text} onChange={(e) => onChange(e.target.value)} />
      )
      break
  }
  const defaultText =
    field.default === undefined ? null : (
      <span className="muted small"> (default {JSON.stringify(field.default)})</span>
    )
  return (
    <div className={`field${field.kind === 'boolean' ? ' field-check' : ''}${cloned !== undefined ? ' field-changed' : ''}`}>
      <label htmlFor={id}>
        {field.label}
        {field.required ? <span aria-hidden="true"> *</span> : null}
        {defaultText}
      </label>
      {input}
      {field.description ? (
        <p id={hintId} className="hint">
          {field.description}
        </p>
      ) : null}
      {cloned !== undefined ? <ResetToCloned label={field.label} value={shownValue(field, cloned)} onReset={() => onChange(cloned)} /> : null}
      {error ? (
        <p id={errorId} className="field-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  )
}

/** What an empty number field stands for, in words (a bare "500" would read as typed). */
function defaultPlaceholder(field: Field): string | undefined {
  return field.default !== undefined && field.default !== null ? `default ${String(field.default)}` : undefined
}

function shownValue(field: Field, raw: string | boolean): string {
  if (typeof raw === 'boolean') return raw ? 'on' : 'off'
  if (raw === '') return 'empty'
  if (field.kind === 'enum') {
    const choice = field.choices.find((c) => JSON.stringify(c) === raw)
    return typeof choice === 'string' ? choice : raw
  }
  return raw
}

/** "changed from the cloned run's X", with a button putting X back. */
export function ResetToCloned({ label, value, onReset }: { label: string; value: string; onReset: () => void }) {
  return (
    <p className="changed-note small">
      Changed from the cloned run&apos;s <code>{value}</code>{' '}
      <button type="button" className="button small link-button" onClick={onReset} aria-label={`Reset ${label} to the cloned value ${value}`}>
        reset to the cloned value
      </button>
    </p>
  )
}
