"""Saving and loading models: tichchap's own format (``native``) and Keras' (``keras_format``)."""
