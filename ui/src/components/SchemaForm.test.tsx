import { render, screen } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { useState } from 'react'
import { describe, expect, it } from 'vitest'
import type { Json } from '../api/types'
import { collect, fieldsOf, initialValues, type RawValues } from '../lib/schemaForm'
import { SchemaForm } from './SchemaForm'

const SCHEMA: Json = {
  type: 'object',
  properties: {
    model_type: { default: 'unigram', enum: ['unigram', 'bpe'], title: 'Model Type', type: 'string' },
    lowercase: { default: false, title: 'Lowercase', type: 'boolean' },
    prefix: { default: '##', maxLength: 8, minLength: 1, title: 'Continuing Subword Prefix', type: 'string' },
    dropout: { default: 0.1, minimum: 0, maximum: 1, title: 'Dropout', type: 'number', description: 'BPE dropout' },
  },
}

function Harness({ errors, onValues }: { errors?: Record<string, string>; onValues?: (v: RawValues) => void }) {
  const [values, setValues] = useState<RawValues>(() => initialValues(fieldsOf(SCHEMA)))
  return (
    <SchemaForm
      schema={SCHEMA}
      values={values}
      errors={errors ?? {}}
      onChange={(v) => {
        setValues(v)
        onValues?.(v)
      }}
    />
  )
}

describe('SchemaForm', () => {
  it('shows each kind of field with its default', () => {
    render(<Harness />)
    expect(screen.getByLabelText(/Model Type/)).toHaveProperty('value', '"unigram"')
    expect(screen.getByRole('option', { name: 'bpe' })).toBeTruthy()
    expect(screen.getByLabelText(/Lowercase/)).toHaveProperty('checked', false)
    expect(screen.getByLabelText(/Continuing Subword Prefix/)).toHaveProperty('value', '##')
    const dropout = screen.getByLabelText(/Dropout/)
    expect(dropout).toHaveProperty('value', '0.1')
    expect(dropout.getAttribute('type')).toBe('number')
    expect(screen.getByText('BPE dropout')).toBeTruthy()
    expect(screen.getAllByText(/\(default/)).toHaveLength(4)
  })

  it('edits values of every kind and collects typed options', async () => {
    const user = userEvent.setup()
    let last: RawValues = {}
    render(<Harness onValues={(v) => (last = v)} />)
    await user.selectOptions(screen.getByLabelText(/Model Type/), 'bpe')
    await user.click(screen.getByLabelText(/Lowercase/))
    const prefix = screen.getByLabelText(/Continuing Subword Prefix/)
    await user.clear(prefix)
    await user.type(prefix, '@@')
    const dropout = screen.getByLabelText(/Dropout/)
    await user.clear(dropout)
    await user.type(dropout, '0.25')
    expect(collect(fieldsOf(SCHEMA), last)).toEqual({
      value: { model_type: 'bpe', lowercase: true, prefix: '@@', dropout: 0.25 },
      errors: {},
    })
  })

  it('shows an error next to the field it names, tied to the input', () => {
    render(<Harness errors={{ model_type: "Input should be 'unigram' or 'bpe'" }} />)
    const select = screen.getByLabelText(/Model Type/)
    expect(select.getAttribute('aria-invalid')).toBe('true')
    const errorId = select.getAttribute('aria-describedby') ?? ''
    expect(document.getElementById(errorId)?.textContent).toBe("Input should be 'unigram' or 'bpe'")
    expect(screen.getByLabelText(/Lowercase/).getAttribute('aria-invalid')).toBeNull()
  })

  it('says so when a method has no options', () => {
    render(<SchemaForm schema={{ type: 'object', properties: {} }} values={{}} onChange={() => undefined} />)
    expect(screen.getByText(/No options/)).toBeTruthy()
  })
})
