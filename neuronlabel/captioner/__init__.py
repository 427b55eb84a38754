"""The neuron captioner: frozen CNN encoder, fused multi-attention LSTM decoder, beam search.

>>> from neuronlabel.captioner import Captioner, CaptionerConfig
>>> CaptionerConfig(attention=("additive", "multiplicative", "dot_product"), fusion="sum").fusion
'sum'
"""

from .attention import (AdditiveAttention, Attention, DotAttention, FusedAttention, MultiHeadAttention,
                        MultiplicativeAttention)
from .beam import beam_search, greedy, sequence_logprob
from .config import CaptionerConfig
from .decoder import Decoder
from .encoder import EncodedImages, PyramidEncoder
from .lm import LanguageModel, wpmi
from .model import Captioner, read_checkpoint
from .vocab import Vocabulary, detokenize, tokenize

__all__ = [
    "AdditiveAttention", "Attention", "Captioner", "CaptionerConfig", "Decoder", "DotAttention",
    "EncodedImages", "FusedAttention", "LanguageModel", "MultiHeadAttention", "MultiplicativeAttention",
    "PyramidEncoder", "Vocabulary", "beam_search", "detokenize", "greedy", "read_checkpoint",
    "sequence_logprob", "tokenize", "wpmi",
]
