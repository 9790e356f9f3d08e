import { JOB_TIMEOUT, expect, statusBadge, test } from './helpers'

test('trains a char tokenizer through the New tokenizer form', async ({ page, open, shot }) => {
  await open('#/tokenizers/new')
  await expect(page.getByRole('heading', { name: 'New tokenizer' })).toBeVisible()
  const method = page.getByLabel('Method')
  await expect(method.getByRole('option', { name: 'char' })).toBeEnabled() // from GET /backends
  await method.selectOption('char')
  await page.getByLabel('Vocabulary size').fill('256')
  await page.getByLabel('Corpus').fill('shakespeare.txt')
  await shot('form')

  await page.getByRole('button', { name: 'Train tokenizer' }).click()
  await expect(page).toHaveURL(/#\/tokenizers\/tok-[\w-]+$/)
  const id = decodeURIComponent(new URL(page.url()).hash.replace('#/tokenizers/', ''))
  await expect(page.getByRole('heading', { level: 1, name: id })).toBeVisible()
  await expect(statusBadge(page)).toHaveText('completed', { timeout: JOB_TIMEOUT })
  await expect(page.getByRole('heading', { name: 'On the holdout' })).toBeVisible()
  await shot('completed')
  // Its files download (through fetch, as they would with a key).
  const download = page.waitForEvent('download')
  await page.getByRole('button', { name: 'tokenizer.json' }).click()
  expect((await download).suggestedFilename()).toBe('tokenizer.json')

  // The encode box: one token per character.
  await page.getByLabel('Text').fill('To be, or not')
  await page.getByRole('button', { name: 'Encode' }).click()
  await expect(page.getByText('13 tokens for 13 characters')).toBeVisible()
  await shot('encoded')

  await page.getByRole('link', { name: 'Overview' }).click()
  await expect(page.getByText('Ready: queue up, 1 worker live')).toBeVisible()
  await expect(page.getByRole('link', { name: id })).toBeVisible()
  await shot('overview')
})
