"""Text: corpora, tokenizers, RNN language models, prompt continuation and scoring."""
