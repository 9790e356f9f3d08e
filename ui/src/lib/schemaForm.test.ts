import { describe, expect, it } from 'vitest'
import type { Json } from '../api/types'
import { collect, fieldErrors, fieldsOf, initialValues } from './schemaForm'

/** Shapes as pydantic writes them (the built-in sentencepiece, the example wordpiece, and
 * the other kinds a plugin may use). */
const SCHEMA: Json = {
  type: 'object',
  title: 'Options',
  additionalProperties: false,
  properties: {
    model_type: { default: 'unigram', enum: ['unigram', 'bpe'], title: 'Model Type', type: 'string' },
    lowercase: { default: false, title: 'Lowercase', type: 'boolean' },
    prefix: { default: '##', maxLength: 8, minLength: 1, pattern: '^\\S+$', title: 'Prefix', type: 'string' },
    alpha: { default: 0.5, exclusiveMinimum: 0, maximum: 1, type: 'number', description: 'smoothing' },
    layers: { anyOf: [{ type: 'integer', minimum: 1, maximum: 96 }, { type: 'null' }], default: null, title: 'Layers' },
    kind: { $ref: '#/$defs/Kind', default: 'a' },
    extra: { type: 'object', default: { x: 1 } },
    needed: { type: 'integer' },
  },
  required: ['needed'],
  $defs: { Kind: { enum: ['a', 'b'], type: 'string', title: 'Kind' } },
}

describe('fieldsOf', () => {
  it('reads every kind of field with its default and limits', () => {
    const fields = fieldsOf(SCHEMA)
    expect(fields.map((f) => [f.name, f.kind])).toEqual([
      ['model_type', 'enum'],
      ['lowercase', 'boolean'],
      ['prefix', 'string'],
      ['alpha', 'number'],
      ['layers', 'integer'],
      ['kind', 'enum'],
      ['extra', 'json'],
      ['needed', 'integer'],
    ])
    const byName = Object.fromEntries(fields.map((f) => [f.name, f]))
    expect(byName['model_type']?.choices).toEqual(['unigram', 'bpe'])
    expect(byName['layers']).toMatchObject({ nullable: true, minimum: 1, maximum: 96, label: 'Layers' })
    expect(byName['kind']?.choices).toEqual(['a', 'b'])
    expect(byName['alpha']).toMatchObject({ exclusiveMinimum: 0, maximum: 1, description: 'smoothing', label: 'Alpha' })
    expect(byName['needed']?.required).toBe(true)
    expect(byName['prefix']?.required).toBe(false)
  })

  it('has no fields for a schema without properties (a method with no options)', () => {
    expect(fieldsOf({ type: 'object', properties: {}, title: 'NoOptions' })).toEqual([])
    expect(fieldsOf(null)).toEqual([])
    expect(fieldsOf(undefined)).toEqual([])
  })
})

describe('collect', () => {
  const fields = fieldsOf(SCHEMA)

  it('gives the defaults back as typed JSON', () => {
    const raw = { ...initialValues(fields), needed: '3' }
    const { value, errors } = collect(fields, raw)
    expect(errors).toEqual({})
    expect(value).toEqual({
      model_type: 'unigram',
      lowercase: false,
      prefix: '##',
      alpha: 0.5,
      kind: 'a',
      extra: { x: 1 },
      needed: 3,
    })
  })

  it("starts from a model size's options where it sets them", () => {
    const raw = { ...initialValues(fields, { alpha: 0.25, lowercase: true }), needed: '3' }
    const { value } = collect(fields, raw)
    expect(value).toMatchObject({ alpha: 0.25, lowercase: true, model_type: 'unigram' })
  })

  it('names what is wrong with each field', () => {
    const raw = {
      ...initialValues(fields),
      prefix: 'a b',
      alpha: '0',
      layers: '2.5',
      extra: '{oops',
      needed: '',
      model_type: '"nope"',
    }
    const { errors } = collect(fields, raw)
    expect(errors).toEqual({
      prefix: 'must match ^\\S+$',
      alpha: 'must be more than 0',
      layers: 'must be a whole number',
      extra: 'must be valid JSON',
      needed: 'required',
      model_type: 'choose one of the listed values',
    })
  })

  it('checks numeric limits and string lengths', () => {
    const raw = { ...initialValues(fields), layers: '97', prefix: '123456789', needed: '1', alpha: '2' }
    expect(collect(fields, raw).errors).toEqual({
      layers: 'must be at most 96',
      prefix: 'must be at most 8 characters',
      alpha: 'must be at most 1',
    })
  })
})

describe('fieldErrors', () => {
  const known = ['method', 'vocab_size', 'corpus_path', 'options', 'options.model_type']

  it('splits an API message into the fields it names', () => {
    expect(
      fieldErrors("vocab_size: Input should be greater than or equal to 2; options.model_type: Input should be 'unigram' or 'bpe'", known),
    ).toEqual({
      vocab_size: 'Input should be greater than or equal to 2',
      'options.model_type': "Input should be 'unigram' or 'bpe'",
    })
  })

  it('keeps a message that continues after a semicolon with its field', () => {
    expect(fieldErrors("method: no tokenizer backend 'x'; available: bpe, char", known)).toEqual({
      method: "no tokenizer backend 'x'; available: bpe, char",
    })
  })

  it('reads messages that start with the field name and a space', () => {
    expect(fieldErrors("corpus_path 'nope.txt' does not exist", known)).toEqual({
      corpus_path: "'nope.txt' does not exist",
    })
  })

  it("puts what names no field under ''", () => {
    expect(fieldErrors('the queue is unavailable', known)).toEqual({ '': 'the queue is unavailable' })
  })
})
