import torch

from cnnlstm.models.data import CHUNK_ROWS, StepChunks, TensorBatches, TensorDataModule


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
    loader = dm.train_dataloader()
    assert loader.minibatches == 13 and loader.steps == CHUNK_ROWS // 8 and len(loader) == 1


def test_chunks_hold_the_same_minibatches_in_the_same_order():
    x, y = _data()
    plain = [b for _, b in TensorBatches(x, y, 10, shuffle=True, seed=3)]
    chunks = list(StepChunks(TensorBatches(x, y, 10, shuffle=True, seed=3), 4))
    assert [len(c) for c in chunks] == [4, 4, 3]
    assert len(StepChunks(TensorBatches(x, y, 10, shuffle=False), 4)) == 3
    flat = [mb for chunk in chunks for mb in chunk]
    assert len(flat) == len(plain)
    assert all(torch.equal(b, yb) for b, (_, yb) in zip(plain, flat, strict=True))
    assert all(torch.equal(xb[:, 0].long(), yb) for xb, yb in flat)  # rows stay paired
    again = StepChunks(TensorBatches(x, y, 10, shuffle=True, seed=3), 4)
    first, second = next(iter(again)), next(iter(again))
    assert torch.equal(first[0][1], chunks[0][0][1]) and not torch.equal(first[0][1], second[0][1])


def test_chunks_only_on_one_device():
    """Under data parallelism every mini-batch is one forward of the wrapped model."""
    import pytorch_lightning as pl
    from pytorch_lightning.strategies import DDPStrategy

    x, y = _data()
    single = TensorDataModule(x, y, batch_size=512)
    single.trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    single.setup("fit")
    assert single.steps_per_batch == CHUNK_ROWS // 512
    ddp = TensorDataModule(x, y, batch_size=512)
    quiet = {"logger": False, "enable_progress_bar": False}
    ddp.trainer = pl.Trainer(accelerator="cpu", devices=1, strategy=DDPStrategy(), **quiet)
    ddp.setup("fit")
    assert ddp.steps_per_batch == 1
