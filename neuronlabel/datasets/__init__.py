"""Data sets for training and evaluating the captioner.

>>> from neuronlabel.datasets.milan_format import load_milannotations
"""
