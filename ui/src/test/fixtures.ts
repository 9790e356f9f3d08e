/** API bodies for tests, shaped by the generated types (so a schema change breaks them). */
import type { BackendPublic, RunPublic, TokenizerPublic } from '../api/types'

export const NO_OPTIONS = { additionalProperties: false, properties: {}, title: 'Gpt2Options', type: 'object' }

export function modelBackend(
  name: string,
  schema: object = NO_OPTIONS,
  status: 'ok' | 'broken' = 'ok',
): BackendPublic {
  return {
    kind: 'model',
    name,
    distribution: name === 'gpt2' ? 'model-trainer' : 'model-trainer-extras',
    version: '0.1.0',
    status,
    reason: status === 'ok' ? null : 'ImportError: nope',
    sizes: {
      nano: { n_layer: 4, n_head: 4, n_embd: 128, options: {} },
      tiny: { n_layer: 4, n_head: 4, n_embd: 256, options: {} },
      mini: { n_layer: 6, n_head: 6, n_embd: 384, options: {} },
    },
    options_schema: schema as BackendPublic['options_schema'],
    trains: true,
    passed_over: [],
  }
}

export const MODEL_BACKENDS = {
  data: [
    modelBackend('gpt2'),
    modelBackend('gpt_neox', {
      additionalProperties: false,
      properties: { rotary_pct: { default: 0.25, maximum: 1, minimum: 0, title: 'Rotary Pct', type: 'number' } },
      title: 'NeoxOptions',
      type: 'object',
    }),
  ],
  count: 2,
}

export function tokenizer(id: string, vocab: number, corpus: string, status: TokenizerPublic['status'] = 'completed'): TokenizerPublic {
  return {
    tokenizer_id: id,
    status,
    method: 'bpe',
    config: { method: 'bpe', vocab_size: vocab, min_frequency: 2, corpus_path: corpus, holdout_fraction: 0.1, seed: 42, options: {}, min_length: 1, tags: [] },
    stats:
      status === 'completed'
        ? {
            vocab_size: vocab,
            holdout_lines: 10,
            holdout_chars: 400,
            holdout_words: 80,
            token_count: 120,
            unknown_tokens: 0,
            unknown_token_rate: 0,
            coverage: 1,
            char_coverage: 1,
            tokens_per_char: 0.3,
            tokens_per_word: 1.5,
          }
        : null,
    message: null,
    error_code: null,
    failure_class: null,
    created_at: '2025-01-01T10:00:00Z',
    started_at: null,
    finished_at: null,
    last_heartbeat: null,
    corpus: null,
    files: [],
    durations: { split_s: 0, train_s: 0, stats_s: 0, total_s: 0 },
    name: null,
    notes: null,
    tags: [],
  } as TokenizerPublic
}

/** A completed run like the demo's: gpt2 nano, 300 steps of 8 x 128 on the stdlib corpus. */
export function finishedRun(id = 'run-1', patch: { max_steps?: number; lr?: number } = {}): RunPublic {
  return {
    run_id: id,
    name: null,
    notes: null,
    tags: [],
    queue: null,
    stopped_early: null,
    status: 'completed',
    message: null,
    last_heartbeat: null,
    progress: { step: 300, max_steps: 300, tokens_seen: 307200, train_loss: 4.8, val_loss: 5.06, lr: 1e-4, tokens_per_s: 12315, eta_s: 0 },
    metrics: { best_val_loss: 5.0628, best_step: 300, final_train_loss: 5.1358, final_val_loss: 5.0628, final_val_perplexity: 158, tokens_per_s: 12315, regressions: [] },
    error_code: null,
    failure_class: null,
    retries: 0,
    last_error: null,
    config: {
      model: { family: 'gpt2', size: 'nano', n_layer: null, n_head: null, n_embd: null, max_seq_len: 128, dropout: 0, options: {} },
      data: { tokenizer_id: 'tok-a', corpus_path: 'demo/python-stdlib.txt', holdout_fraction: 0.1, holdout_strategy: 'random_lines', min_length: 1 },
      trainer: {
        max_steps: patch.max_steps ?? 300, batch_size: 8, grad_accum_steps: 1, learning_rate: patch.lr ?? 1e-3, min_lr: 1e-4, warmup_steps: 30,
        weight_decay: 0.1, beta1: 0.9, beta2: 0.99, grad_clip: 1, eval_interval: 100, eval_steps: 10,
        checkpoint_interval: 100, log_interval: 10, seed: 1337, device: 'auto', precision: 'auto', compile: 'auto', nproc: 1,
        eval_samples: 3, eval_sample_tokens: 48,
      },
      finetune: { method: 'full', rank: 8, alpha: 16, dropout: 0, target_modules: null, export_adapter: false },
      tags: [],
    },
    architecture: { family: 'gpt2', n_layer: 4, n_head: 4, n_embd: 128, max_seq_len: 128, vocab_size: 4096, dropout: 0, options: {} },
    parameters: 1_334_016,
    tokenizer: { tokenizer_id: 'tok-a', method: 'bpe', vocab_size: 4096 },
    created_at: '2025-01-01T10:00:00Z',
    started_at: '2025-01-01T10:00:01Z',
    finished_at: '2025-01-01T10:01:20Z',
    device: { device: 'cpu', name: 'x86_64', precision: 'fp32', precision_reason: 'no native bf16', threads: 2, cpu: 'x86', torch: '2.13', processes: 1 },
    dataset: null,
    durations: { prepare_s: 0.6, train_s: 72.7, export_s: 0.05, total_s: 78.8 },
    artifacts: ['checkpoints/best.pt', 'checkpoints/last.pt', 'export/config.json', 'export/model.safetensors', 'logs.jsonl', 'manifest.json', 'metrics.jsonl'],
    eval: null,
    finetune: null,
  } as RunPublic
}
