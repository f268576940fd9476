"""Image processor and text+image processor of the tiny VLM."""

from transformers import ProcessorMixin
from transformers.image_processing_backends import PilBackend
from transformers.image_utils import PILImageResampling


class TinyVLMImageProcessor(PilBackend):
    """PIL image(s) -> RGB, bilinear resize to `size`, scale to [0, 1], normalize with mean 0.5 / std 0.5.

    transformers 5 implements `BaseImageProcessor` through backends; `PilBackend` is the
    CPU one that needs no torchvision, so the whole pipeline is configured by class
    attributes. Calling it with `return_tensors="pt"` gives `pixel_values` of shape
    (num_images, 3, height, width).
    """

    resample = PILImageResampling.BILINEAR
    size = {"height": 48, "width": 48}
    image_mean = (0.5, 0.5, 0.5)
    image_std = (0.5, 0.5, 0.5)
    do_resize = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True
    do_center_crop = False
    do_pad = False


class TinyVLMProcessor(ProcessorMixin):
    """Tokenizer + image processor; expands each "<image>" in the text into `num_image_tokens` image tokens.

    Call it as `processor(text=list_of_prompts, images=list_of_pil_images)`: one image per
    "<image>" placeholder, in order. It returns left-padded `input_ids`, `attention_mask` and
    (with images) `pixel_values`, as torch tensors unless `return_tensors` says otherwise.
    `num_image_tokens` is saved in `processor_config.json`, so it survives `save_pretrained`.
    """

    # Defaults for ProcessorMixin._merge_kwargs; call-time keyword arguments override them.
    text_kwargs = {"padding": True, "return_tensors": "pt"}
    images_kwargs = {"return_tensors": "pt"}

    def __init__(self, image_processor=None, tokenizer=None, num_image_tokens: int = 9, chat_template=None, **kwargs):
        self.num_image_tokens = num_image_tokens
        self.image_token = getattr(tokenizer, "image_token", None) or "<image>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)

    def __call__(self, text=None, images=None, **kwargs):
        """Tokenize `text` (str or list of str) and preprocess `images`; see the class docstring."""
        # ProcessorMixin.__call__ takes images first; text-first matches how this harness calls it.
        return super().__call__(images=images, text=text, **kwargs)

    def replace_image_token(self, image_inputs: dict, image_idx: int, **kwargs) -> str:
        """Text that replaces one "<image>" placeholder (hook called by ProcessorMixin.__call__)."""
        return self.image_token * self.num_image_tokens
