import { expect, expectFieldError, fillTinyRun, test } from './helpers'

test('shows each wrong input of the New tokenizer form next to its field', async ({ page, open, shot }) => {
  await open('#/tokenizers/new')
  const method = page.getByLabel('Method')
  await expect(method.getByRole('option', { name: 'char' })).toBeEnabled()
  await method.selectOption('char')
  const vocab = page.getByLabel('Vocabulary size')
  const corpus = page.getByLabel('Corpus')
  const submit = page.getByRole('button', { name: 'Train tokenizer' })

  // Checked in the browser before anything is sent.
  await vocab.fill('0')
  await corpus.fill('shakespeare.txt')
  await submit.click()
  await expectFieldError(vocab, /at least 2/)
  await shot('tok-vocab-zero')

  // Refused by the API (422 CONFIG_INVALID naming the field).
  await vocab.fill('2000000')
  await submit.click()
  await expectFieldError(vocab, /exceeds the limit/)
  await shot('tok-vocab-over-limit')
  await vocab.fill('300')
  await expect(vocab).not.toHaveAttribute('aria-invalid', 'true') // edited: its error is gone

  // A corpus outside CORPUS_ROOT (400 PATH_OUTSIDE_ROOT), then one that does not exist (404).
  await vocab.fill('256')
  await corpus.fill('../x')
  await submit.click()
  await expectFieldError(corpus, /outside its root/)
  await expect(vocab).not.toHaveAttribute('aria-invalid', 'true')
  await shot('tok-corpus-outside-root')
  await corpus.fill('nope.txt')
  await submit.click()
  await expectFieldError(corpus, /does not exist/)
  await shot('tok-corpus-missing')
  await expect(page).toHaveURL(/#\/tokenizers\/new$/)
})

test('shows each wrong input of the New training run form next to its field', async ({ page, api, open, shot }) => {
  const tokenizer = await api.completedTokenizer()
  await open('#/runs/new')
  await page.getByRole('button', { name: 'Quick Shakespeare' }).click()
  await page.getByRole('combobox', { name: 'Tokenizer' }).selectOption(tokenizer)
  await fillTinyRun(page)
  const submit = page.getByRole('button', { name: 'Start training' })
  const heads = page.getByLabel('Attention heads')
  const width = page.getByLabel('Embedding width')
  const seqLen = page.getByLabel('Context length')
  const steps = page.getByLabel('Max steps')

  // Checked in the browser: heads that do not divide the width, a sequence length of 0.
  await heads.fill('3')
  await seqLen.fill('0')
  await submit.click()
  await expectFieldError(width, /not divisible by n_head 3/)
  await expectFieldError(seqLen, /at least|greater/)
  await shot('run-shape')
  await heads.fill('2')
  await seqLen.fill('32')

  // Refused by the API: over LIMITS__MAX_STEPS (422 CONFIG_INVALID naming the field).
  await steps.fill('20000000')
  await submit.click()
  await expectFieldError(steps, /exceeds the limit/)
  await expect(width).not.toHaveAttribute('aria-invalid', 'true')
  await shot('run-steps-over-limit')
  // Editing the field takes its error away at once.
  await steps.fill('60')
  await expect(steps).not.toHaveAttribute('aria-invalid', 'true')
  await expect(page).toHaveURL(/#\/runs\/new/)
})

// POST /runs/train names the field as the body does (`data.corpus_path`), so the message
// lands under the Corpus field.
test('shows a corpus outside CORPUS_ROOT under the run form\'s Corpus field', async ({ page, api, open, shot }) => {
  const tokenizer = await api.completedTokenizer()
  await open('#/runs/new')
  await page.getByRole('button', { name: 'Quick Shakespeare' }).click()
  await page.getByRole('combobox', { name: 'Tokenizer' }).selectOption(tokenizer)
  await fillTinyRun(page)
  const corpus = page.getByLabel('Corpus')
  await corpus.fill('../x')
  await page.getByRole('button', { name: 'Start training' }).click()
  await expectFieldError(corpus, /outside its root/)
  await shot('run-corpus-outside-root')
})
