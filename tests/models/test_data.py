import torch

from cnnlstm.models.data import TensorBatches, TensorDataModule


def _data(n=103):
    return torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.arange(n)


def test_an_epoch_visits_every_sample_once_in_batches():
    x, y = _data()
    batches = TensorBatches(x, y, 10, shuffle=True, seed=1)
    seen = [b for _, b in batches]
    assert len(seen) == len(batches) == 11
    assert [len(b) for b in seen] == [10] * 10 + [3]
    assert sorted(torch.cat(seen).tolist()) == list(range(103))
    xb, yb = next(iter(batches))
    assert torch.equal(xb[:, 0].long(), yb)  # rows stay paired


def test_order_is_seeded_and_changes_between_epochs():
    x, y = _data()
    a = TensorBatches(x, y, 103, shuffle=True, seed=5)
    b = TensorBatches(x, y, 103, shuffle=True, seed=5)
    first_a, second_a = next(iter(a))[1], next(iter(a))[1]
    assert torch.equal(first_a, next(iter(b))[1])
    assert not torch.equal(first_a, second_a)
    ordered = TensorBatches(x, y, 50, shuffle=False)
    assert torch.equal(torch.cat([b for _, b in ordered]), y)


def test_ranks_take_disjoint_equal_shares():
    x, y = _data(101)
    ranks = [TensorBatches(x, y, 7, shuffle=True, seed=2, rank=r, world_size=3) for r in range(3)]
    shares = [torch.cat([b for _, b in batches]) for batches in ranks]
    assert [len(s) for s in shares] == [33, 33, 33]
    assert len(set(torch.cat(shares).tolist())) == 99


def test_datamodule_without_validation_gives_no_val_batches():
    x, y = _data()
    dm = TensorDataModule(x, y, batch_size=8)
    dm.setup("fit")
    assert dm.val_dataloader() == [] and not dm.has_validation
    assert len(dm.train_dataloader()) == 13
