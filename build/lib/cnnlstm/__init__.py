"""cnnlstm: the CNN-LSTM stock selection and timing platform (Liu, Zhang & Ma, 2017)."""

__version__ = "0.1.0"
