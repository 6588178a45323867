import pytest
import torch

from cnnlstm.models.cnn import CnnRanker, CnnShape


def test_logits_shape_including_a_batch_of_one():
    net = CnnRanker()
    assert net(torch.randn(7, 1, 32)).shape == (7, 2)
    assert net(torch.randn(1, 1, 32)).shape == (1, 2)


def test_two_conv_and_two_hidden_layers():
    net = CnnRanker(CnnShape(channels=(4, 8), hidden=(10, 6), dropout=0.5))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv1d)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [c.out_channels for c in convs] == [4, 8]
    assert [lin.out_features for lin in linears] == [10, 6, 2]
    assert any(isinstance(m, torch.nn.Tanh) for m in net.modules())
    assert any(isinstance(m, torch.nn.ReLU) for m in net.modules())


def test_wrong_input_shape_is_refused():
    with pytest.raises(AssertionError, match="expected"):
        CnnRanker()(torch.randn(4, 32))


def test_dropout_only_in_training_mode():
    net = CnnRanker(CnnShape(dropout=0.5))
    x = torch.randn(16, 1, 32)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))
