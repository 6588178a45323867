import pytest
import torch

from cnnlstm.models.lstm import LstmShape, LstmTimer


def test_logits_shape_including_a_batch_of_one():
    net = LstmTimer()
    assert net(torch.randn(5, 30, 6)).shape == (5, 2)
    assert net(torch.randn(1, 30, 6)).shape == (1, 2)


def test_one_lstm_layer_and_a_tanh_dense_layer():
    net = LstmTimer(LstmShape(hidden=12, dense=7))
    assert net.lstm.num_layers == 1 and net.lstm.hidden_size == 12
    assert isinstance(net.head[1], torch.nn.Tanh) and net.head[0].out_features == 7


def test_output_reads_the_whole_window_in_order():
    torch.manual_seed(0)
    net = LstmTimer().eval()
    x = torch.randn(2, 30, 6)
    earlier = x.clone()
    earlier[:, 20] += 1.0  # a day before the last matters (its influence fades with distance)
    assert not torch.allclose(net(x), net(earlier), rtol=0, atol=1e-6)
    assert not torch.allclose(net(x), net(x.flip(1)), rtol=0, atol=1e-6)


def test_wrong_feature_count_is_refused():
    with pytest.raises(AssertionError, match="expected"):
        LstmTimer()(torch.randn(2, 30, 5))
