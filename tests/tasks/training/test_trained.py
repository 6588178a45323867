"""The report's sentence on the LSTM's training data says which data and how much."""

from __future__ import annotations

from cnnlstm.tasks.training.trained import describe_lstm_training


def test_pooled_sample_sizes_are_stated():
    text = describe_lstm_training(
        {
            "train_samples": 30_000.0,
            "train_available": 94_123.0,
            "val_samples": 10_000.0,
            "val_available": 34_000.0,
            "epochs_run": 12.0,
        }
    )
    assert text == (
        "LSTM training data: pooled windows of every stock, 30,000 windows drawn at random of "
        "94,123 labelled; validated on 10,000 of 34,000 tail windows; 12 epochs."
    )


def test_all_windows_and_the_whole_tail_say_so_plainly():
    text = describe_lstm_training(
        {
            "train_samples": 800.0,
            "train_available": 800.0,
            "val_samples": 200.0,
            "val_available": 200.0,
        }
    )
    assert (
        text == "LSTM training data: pooled windows of every stock, 800 windows; validated on 200."
    )
    assert describe_lstm_training({}) == "LSTM training data: not recorded."
