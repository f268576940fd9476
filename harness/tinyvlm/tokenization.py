"""Tokenizers of the tiny VLM, built offline with the `tokenizers` library: one character per token (the default),
or subwords learned from the world's own corpus (model.tokenizer=subword). Both save a plain `tokenizer.json` that
`AutoTokenizer.from_pretrained` loads without custom code."""
from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN, IMAGE_TOKEN = "<pad>", "<bos>", "<eos>", "<unk>", "<image>"
SPECIAL_TOKENS = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN, IMAGE_TOKEN]
CHARACTERS = [chr(code) for code in range(32, 127)] + ["\n"]


def _build_backend() -> Tokenizer:
    """WordLevel model over single characters; special tokens are matched before splitting."""
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + CHARACTERS)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    # `.` would skip newlines in the Oniguruma regex, hence the explicit class.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    return tokenizer


# The pieces BPE merges within: a word with the space, bracket or slash before it and the '=', ':' or ')' after it
# ("answer:", " yellow", "(A)", "w="); every digit alone, as Llama's and Qwen's tokenizers split numbers, so
# arithmetic stays digit by digit; a newline; any other character. Pieces are raw text, so decoding is joining.
SUBWORD_PIECES = r"[ (/]?[A-Za-z]+[=:)]?| ?[0-9]|\n|[^A-Za-z0-9\n]"
# An upper bound: the embedded world's corpus has fewer distinct pieces (~480 tokens), so every piece seen in it
# becomes one token and unseen words (held-out phrasings) fall back to shorter pieces, down to characters.
SUBWORD_VOCAB = 2048


def build_subword_tokenizer(texts: Iterable[str], vocab_size: int = SUBWORD_VOCAB) -> PreTrainedTokenizerFast:
    """A BPE tokenizer learned from `texts` over the character tokenizer's alphabet (so nothing is unknown), with
    the same special tokens at the same ids; deterministic for the same texts."""
    backend = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(SUBWORD_PIECES), behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                                           initial_alphabet=CHARACTERS, show_progress=False))
    backend.add_special_tokens(SPECIAL_TOKENS)
    return _fast(backend)


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """Return the character tokenizer (printable ASCII + newline + 5 special tokens), left-padding.

    No BOS/EOS is added automatically, so encode/decode of plain text is an exact round trip.
    """
    return _fast(_build_backend())


def _fast(backend: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        # Exposes `tokenizer.image_token` / `image_token_id`, which multimodal processors look up.
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        padding_side="left",
        # The default clean-up would drop the space in e.g. "a ." and break the round trip.
        clean_up_tokenization_spaces=False,
    )
