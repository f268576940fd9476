"""Character-level tokenizer for the tiny VLM, built offline with the `tokenizers` library."""

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
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


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """Return the character tokenizer (printable ASCII + newline + 5 special tokens), left-padding.

    No BOS/EOS is added automatically, so encode/decode of plain text is an exact round trip.
    It saves a plain `tokenizer.json` that `AutoTokenizer.from_pretrained` loads without custom code.
    """
    return PreTrainedTokenizerFast(
        tokenizer_object=_build_backend(),
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
