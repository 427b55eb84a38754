"""Data sets for training and evaluating the captioner.

>>> from neuronlabel.datasets.milannotations import load_milannotations
"""
