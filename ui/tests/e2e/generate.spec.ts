import { JOB_TIMEOUT, TINY, expect, test } from './helpers'

/** Training the run this test samples from: a few seconds alone, minutes on a busy machine. */
const RUN_TIMEOUT = 4 * JOB_TIMEOUT

test('the generate box streams the text the API would answer in one piece', async ({ page, api, open, shot, playwright }) => {
  test.setTimeout(RUN_TIMEOUT + 2 * JOB_TIMEOUT)
  const tokenizer = await api.completedTokenizer()
  const runId = await api.startRun({
    model: TINY.model,
    data: { tokenizer_id: tokenizer, corpus_path: 'shakespeare.txt' },
    trainer: TINY.trainer,
  })
  await api.waitFor(() => api.run(runId), 'completed', RUN_TIMEOUT)

  await open(`#/runs/${runId}`)
  const box = page.locator('form.generate')
  await box.getByLabel('Prompt').fill('ROMEO:')
  await box.getByLabel(/^Max new tokens/).fill('80')
  await box.getByLabel(/^Seed/).fill('5')
  const answered = page.waitForResponse((r) => r.url().endsWith(`/runs/${runId}/generate`))
  await box.getByRole('button', { name: 'Generate' }).click()
  const response = await answered
  expect(response.request().headers()['accept']).toBe('text/event-stream')
  expect(response.headers()['content-type']).toMatch(/^text\/event-stream/)
  await expect(box.getByText('80 new tokens', { exact: true })).toBeVisible({ timeout: JOB_TIMEOUT })
  await shot('streamed')

  // The same settings without streaming: the pieces the page joined are that text.
  const request = await playwright.request.newContext()
  const whole = await request.post(response.url(), {
    data: { prompt: 'ROMEO:', max_new_tokens: 80, temperature: 0.8, top_k: 40, seed: 5 },
  })
  expect(whole.ok()).toBe(true)
  const body = (await whole.json()) as { text: string }
  await expect(box.locator('.generated pre')).toHaveText(`ROMEO:${body.text}`, { useInnerText: true })
  await request.dispose()
})
