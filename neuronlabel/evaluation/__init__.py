"""Scores for generated descriptions (BLEU via sacrebleu, ...).

>>> from neuronlabel.evaluation.bleu import corpus_bleu
>>> round(corpus_bleu(["dog faces"], [["dog faces"]]))
100
"""
