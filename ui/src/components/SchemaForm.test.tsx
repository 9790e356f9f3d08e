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
    expect(screen.getByLabelText(/Model type/)).toHaveProperty('value', '"unigram"')
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
    await user.selectOptions(screen.getByLabelText(/Model type/), 'bpe')
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
    const select = screen.getByLabelText(/Model type/)
    expect(select.getAttribute('aria-invalid')).toBe('true')
    const errorId = select.getAttribute('aria-describedby') ?? ''
    expect(document.getElementById(errorId)?.textContent).toBe("Input should be 'unigram' or 'bpe'")
    expect(screen.getByLabelText(/Lowercase/).getAttribute('aria-invalid')).toBeNull()
  })

  it('labels fields in words, and says an empty field stands for its default', () => {
    const schema: Json = {
      type: 'object',
      properties: {
        learning_rate: { default: 0.001, title: 'Learning Rate', type: 'number' },
        min_lr: { default: 0.0001, title: 'Min Lr', type: 'number' },
        nproc: { default: 1, title: 'Processes', type: 'integer' },
      },
    }
    render(<SchemaForm schema={schema} values={{ learning_rate: '', min_lr: '1e-5', nproc: '1' }} onChange={() => undefined} />)
    const lr = screen.getByLabelText(/^Learning rate/) as HTMLInputElement
    expect(lr.placeholder).toBe('default 0.001') // words, not a value that reads as typed
    expect(screen.getByLabelText(/^Minimum LR/)).toBeTruthy()
    expect(screen.getByLabelText(/^Processes/)).toBeTruthy() // the schema's own title
  })

  it("marks a field that differs from the cloned run's value, and resets it", async () => {
    const user = userEvent.setup()
    function Cloned() {
      const [values, setValues] = useState<RawValues>({ ...initialValues(fieldsOf(SCHEMA)), dropout: '0.3' })
      return <SchemaForm schema={SCHEMA} values={values} onChange={setValues} baseline={initialValues(fieldsOf(SCHEMA))} />
    }
    render(<Cloned />)
    const dropout = screen.getByLabelText(/^Dropout/) as HTMLInputElement
    expect(dropout.closest('.field')?.className).toContain('field-changed')
    expect(screen.getByLabelText(/^Lowercase/).closest('.field')?.className).not.toContain('field-changed')
    await user.click(screen.getByRole('button', { name: 'Reset Dropout to the cloned value 0.1' }))
    expect(dropout.value).toBe('0.1')
    expect(dropout.closest('.field')?.className).not.toContain('field-changed')
  })

  it('says so when a method has no options', () => {
    render(<SchemaForm schema={{ type: 'object', properties: {} }} values={{}} onChange={() => undefined} />)
    expect(screen.getByText(/No options/)).toBeTruthy()
  })
})
