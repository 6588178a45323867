"""Dataset identity: one folder is one dataset however it is spelled; two folders are two.

Measured before: `qlib:../shared/...` and the same folder by its absolute path were two datasets
(two champions), while `csv:data/live` under two different project folders was one.
"""

from __future__ import annotations

import polars as pl

from cnnlstm.flows.lineage import lineage_of
from cnnlstm.flows.params import DataParams


def _csv_folder(root, symbols):
    folder = root / "data" / "live"
    folder.mkdir(parents=True)
    for s in symbols:
        pl.DataFrame({"date": ["2016-01-04"], "close": [1.0]}).write_csv(folder / f"{s}.csv")
    return folder


def _key(source: str) -> str:
    return lineage_of(DataParams(source=source), "cn").dataset


def test_two_spellings_of_one_folder_are_one_dataset(tmp_path, monkeypatch):
    folder = _csv_folder(tmp_path / "a", ["AAA", "BBB"])
    monkeypatch.chdir(tmp_path / "a")
    relative = _key("csv:data/live")
    monkeypatch.chdir(tmp_path / "a" / "data")
    assert _key("csv:../data/live/") == relative
    assert _key(f"csv:{folder}") == relative


def test_one_spelling_in_two_project_folders_is_two_datasets(tmp_path, monkeypatch):
    _csv_folder(tmp_path / "a", ["AAA", "BBB"])
    _csv_folder(tmp_path / "b", ["AAA", "BBB"])
    monkeypatch.chdir(tmp_path / "a")
    first = _key("csv:data/live")
    monkeypatch.chdir(tmp_path / "b")
    assert _key("csv:data/live") != first


def test_new_bars_keep_the_dataset_a_new_stock_changes_it(tmp_path):
    folder = _csv_folder(tmp_path, ["AAA", "BBB"])
    before = _key(f"csv:{folder}")
    pl.DataFrame({"date": ["2016-01-04", "2016-01-05"], "close": [1.0, 1.1]}).write_csv(
        folder / "AAA.csv"
    )
    assert _key(f"csv:{folder}") == before
    pl.DataFrame({"date": ["2016-01-04"], "close": [1.0]}).write_csv(folder / "CCC.csv")
    assert _key(f"csv:{folder}") != before


def test_a_qlib_folder_by_relative_and_absolute_path(shared_data, monkeypatch):
    root = shared_data / "cn-qlib-csi300-sample"
    monkeypatch.chdir(shared_data)
    assert _key("qlib:./cn-qlib-csi300-sample") == _key(f"qlib:{root.resolve()}")
