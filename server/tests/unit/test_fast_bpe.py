"""The word-cache encoder gives exactly the library's ids, and declines where it could not."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers

from model_trainer.core.contracts.tokenizer import TokenizerConfig, TokenizerMethod
from model_trainer.plugins.tokenizers.bpe import END_OF_TEXT, byte_level_bpe
from model_trainer.plugins.tokenizers.char import char_tokenizer
from model_trainer.tokenizers import fast_bpe
from model_trainer.tokenizers.fast_bpe import FastBpeEncoder

ODD_CHARS = (
    "éüßøçñ e\u0301 n\u0303 日本語の文章 中文 한국어 Ελληνικά русский עברית العربية ٣٤٥ हिन्दी ๑๒ "
    "½¾² Ⅷ ① ٫ ‰ — – … « » “ ” ‘ ’ © ™ € £ ¥ ∑ √ ∞ → ⇒ ♥ ★ "
    "🙂 👍🏽 👨‍👩‍👧 🇫🇷 ❤️ \u200b\u200d\ufeff \u00a0 \u2003 \u3000 \u2028 \u2029 \u0085 "
    "\x0b \x0c \x1c \x1d \x1e \x1f \x00 \x7f \ue000 \U000f0000 \u0378 \uffff "
    "\ua7cf \U00016ebb \U0001e5d0 "  # assigned in recent Unicode versions only
)
CASES = [
    "",
    " ",
    "\n",
    "Hello world",
    "It's, they're, we've, I'm, you'll, he'd, IT'S, 'S 'ss ''s x's 's' 'll'",
    "  two spaces   three    four\ttab\t\ttabs  \n\n\n  trailing   \n",
    "line one\r\nline two\r\n\r\n  indented\r\n",
    "digits 0 12 345 6789 3.14159 1,000,000 -42 +7 1e-9 0x1F 2024-11-25",
    "code: def f(x):\n    return {'a': [1, 2]}  # comment\n\n\tpass\n",
    "punctuation!!! ??? ... ,,, ;;; --- ___ *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]]",
    "a" * 5000,
    " " * 3000 + "x",
    "\n" * 2000,
    "9" * 4000,
    "=" * 4000 + "\n",
    "word" + "\u0301" * 300,
    ODD_CHARS,
    ODD_CHARS * 3 + "\n" + ODD_CHARS[::-1],
    f"before{END_OF_TEXT}after {END_OF_TEXT} spaced {END_OF_TEXT}\n{END_OF_TEXT}{END_OF_TEXT}",
    f"<|endoftext| <|endoftext|<|endoftext|>> <|end{END_OF_TEXT}oftext|> {END_OF_TEXT}",
    "<pad><pad> x<pad>y <|im_start|>user\nhi<|im_end|>\n<|im_start|><|im_end|>",
    "<mask> spaced <mask>  and <mask>\n",
    "say hello world, hello  world and the cat sat; hello worldly cat sat",
]


def _training_text(rng: random.Random) -> str:
    words = ["the", "cat", "sat", "on", "mat", "it's", "don't", "def", "return", "self", "x1"]
    pieces = [*words, *ODD_CHARS.split(), "  ", "\n", "\n\n", "\t", "42", "3.14", "!", "..."]
    return "".join(rng.choice(pieces) + rng.choice([" ", "", "\n", ", "]) for _ in range(20000))


def _trained(tmp_path: Path, vocab_size: int, specials: list[str], seed: int) -> Tokenizer:
    corpus = tmp_path / f"corpus-{vocab_size}-{seed}.txt"
    corpus.write_text(_training_text(random.Random(seed)), encoding="utf-8")
    config = TokenizerConfig(
        method=TokenizerMethod.BPE, vocab_size=vocab_size, special_tokens=specials
    )
    tokenizer, trainer = byte_level_bpe(config)
    tokenizer.train([str(corpus)], trainer)
    return Tokenizer.from_str(tokenizer.to_str())


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory: pytest.TempPathFactory) -> list[Tokenizer]:
    folder = tmp_path_factory.mktemp("tokenizers")
    plain = _trained(folder, 300, [], 1)
    chat = _trained(folder, 1000, ["<pad>", "<|im_start|>", "<|im_end|>", "<|im"], 2)
    # Added tokens whose options change how the library cuts them out: such text goes to
    # the library, the rest still through the cache.
    stripping = _trained(folder, 600, [], 3)
    stripped: list[AddedToken] = [AddedToken("<mask>", lstrip=True, rstrip=True)]
    normalized: list[str] = ["hello world", "cat sat"]
    stripping.add_special_tokens(stripped)
    stripping.add_tokens(normalized)
    return [plain, chat, stripping]


def _random_text(rng: random.Random) -> str:
    alphabet = list(ODD_CHARS) + list("aAsStTeErRvVmMlLdD'0189 \t\n\r.,!?-_<|>") + [END_OF_TEXT]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 400)))


def _library(tokenizer: Tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


@pytest.mark.parametrize("typecode", ["H", "I"])
def test_ids_equal_the_library_on_varied_text(
    tokenizers: list[Tokenizer], typecode: fast_bpe.TypeCode
) -> None:
    rng = random.Random(7)
    texts = CASES + [_random_text(rng) for _ in range(300)]
    for tokenizer in tokenizers:
        encoder = FastBpeEncoder.from_tokenizer(tokenizer, typecode)
        assert encoder is not None
        for text in texts + texts:  # the second pass reads from the cache
            assert encoder.encode(text) == _library(tokenizer, text), repr(text[:80])


def test_a_small_cache_stays_small_and_exact(
    tokenizers: list[Tokenizer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast_bpe, "CACHE_WORDS", 40)
    monkeypatch.setattr(fast_bpe, "MAX_CACHED_CHARS", 3)
    rng = random.Random(11)
    tokenizer = tokenizers[1]
    encoder = FastBpeEncoder.from_tokenizer(tokenizer, "H")
    assert encoder is not None
    for _ in range(200):
        text = " ".join(rng.choice(["ab", "cd", "efg", "hijk", "lmnop", "q"]) for _ in range(30))
        assert encoder.encode(text) == _library(tokenizer, text)
        assert encoder.cached_words() <= 40


def test_text_with_a_character_the_probes_cannot_place_goes_to_the_library(
    tokenizers: list[Tokenizer], monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer = tokenizers[0]
    encoder = FastBpeEncoder.from_tokenizer(tokenizer, "H")
    assert encoder is not None

    def unplaceable(_char: str) -> str:
        return "?"

    monkeypatch.setattr(encoder, "_probe", unplaceable)
    text = "plain words, then \u0167 and more"
    assert encoder.encode(text) == _library(tokenizer, text)


def test_tokenizers_the_cache_would_get_wrong_are_declined(tokenizers: list[Tokenizer]) -> None:
    char = char_tokenizer({"<unk>": 0, "a": 1, "b": 2})
    assert FastBpeEncoder.from_tokenizer(char, "H") is None

    def variant(tokenizer: Tokenizer) -> Tokenizer:
        return Tokenizer.from_str(tokenizer.to_str())

    normalized = variant(tokenizers[0])
    normalized.normalizer = normalizers.NFKC()
    prefixed = variant(tokenizers[0])
    prefixed.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    unsplit = variant(tokenizers[0])
    unsplit.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    verbatim = variant(tokenizers[1])
    verbatim.encode_special_tokens = True
    truncated = variant(tokenizers[0])
    truncated.enable_truncation(8)
    dropout = Tokenizer(models.BPE(dropout=0.5))
    dropout.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    for declined in (normalized, prefixed, unsplit, verbatim, truncated, dropout):
        assert FastBpeEncoder.from_tokenizer(declined, "H") is None
