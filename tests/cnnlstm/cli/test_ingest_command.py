"""`cnnlstm ingest` end to end: the simulated market and every shared data set (subsets)."""

import shutil
from datetime import date

import polars as pl
import pytest

from cnnlstm.cli.main import main
from cnnlstm.flows.params import DataParams
from cnnlstm.flows.stages.data import default_store as source_store
from cnnlstm.tasks.data.store import read_bars, read_benchmark

SIM = ["--source", "sim", "--sim", "n_stocks=20", "--sim", "start=2015-01-01"]
SIM += ["--sim", "end=2015-12-31", "--sim", "seed=3"]


def default_store():
    """The store `backtest` reads for the same source: ingest must write that one."""
    sim = {"n_stocks": 20, "start": "2015-01-01", "end": "2015-12-31", "seed": 3}
    return source_store(DataParams(source="sim", sim=sim))


def test_sim_into_the_default_store_and_again(capsys):
    assert main(["ingest", *SIM]) == 0
    out = capsys.readouterr().out
    assert "read: 20 stocks" in out and "benchmark: SIM_INDEX (from the source)" in out
    bars = read_bars(default_store())
    assert bars["symbol"].n_unique() == 20
    assert bars["date"].min() >= date(2015, 1, 1) and bars["date"].max() <= date(2015, 12, 31)
    assert read_benchmark(default_store())["symbol"][0] == "SIM_INDEX"
    assert main(["ingest", *SIM]) == 0
    assert f"rows added to store: 0 (already stored: {bars.height})" in capsys.readouterr().out


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    assert main(["ingest", "--source", "sim", "--sim", "n_stoks=5", "--store", str(tmp_path)]) == 2
    assert "simulated market options: n_stoks: Extra inputs are not permitted" in (
        capsys.readouterr().err
    )
    assert main(["ingest", "--source", f"csv:{tmp_path}", "--sim", "seed=1"]) == 2
    assert "--sim options apply only to --source sim" in capsys.readouterr().err
    assert main(["ingest", "--source", f"csv:{tmp_path}", "--store", str(tmp_path / "s")]) == 2
    assert "holds no data files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ingest", "--source", "sim", "--sim", "novalue"])


def test_us_sp500_subset_with_index(shared_data, tmp_path, capsys):
    root = shared_data / "us-sp500-2013-2018"
    stocks = tmp_path / "stocks"
    stocks.mkdir()
    for name in ("AAPL_data.csv", "DHR_data.csv", "XOM_data.csv"):
        shutil.copy(root / "stocks" / name, stocks / name)
    args = ["ingest", "--source", f"csv:{stocks}", "--store", str(tmp_path / "store")]
    args += ["--benchmark", f"csv:{root / 'index_gspc.csv'}#SPX"]
    assert main(args) == 2  # DHR has empty open/high/low cells: fail by default
    err = capsys.readouterr().err
    assert "open: missing (null or NaN): 2 row(s)" in err and "symbol=DHR" in err
    assert main([*args, "--on-invalid", "quarantine"]) == 0
    out = capsys.readouterr().out
    raw_rows = sum(pl.read_csv(f).height for f in stocks.iterdir())
    stored = read_bars(tmp_path / "store")
    rejected = int(next(x for x in out.splitlines() if x.startswith("rows rejected")).split()[2])
    assert stored.height + rejected == raw_rows
    assert stored["date"].min() == date(2013, 2, 8) and stored["date"].max() == date(2018, 2, 7)
    assert read_benchmark(tmp_path / "store")["symbol"][0] == "SPX"


def test_akshare_with_netease_benchmark(shared_data, tmp_path, capsys):
    src = tmp_path / "ak"
    src.mkdir()
    for code in ("000598", "600131", "603421"):
        shutil.copy(shared_data / "cn-akshare-sample" / f"{code}.csv", src / f"{code}.csv")
    bench = shared_data / "cn-index-163-sample" / "000905.csv"
    args = ["ingest", "--source", f"akshare:{src}", "--benchmark", f"netease:{bench}"]
    args += ["--store", str(tmp_path / "store")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "cannot be used (use --on-invalid quarantine" in err and "forward-adjus" in err
    assert main([*args, "--on-invalid", "quarantine"]) == 0
    out = capsys.readouterr().out
    assert "daily move beyond the exchange's price limit" in out
    assert "no close on" in out  # the index file ends in 2020, the stocks run to 2025
    stored = read_bars(tmp_path / "store")
    raw_rows = sum(pl.read_csv(f).height for f in src.iterdir())
    rejected = int(next(x for x in out.splitlines() if x.startswith("rows rejected")).split()[2])
    assert rejected > 0 and stored.height + rejected == raw_rows
    assert stored["volume"].min() >= 0


def test_qlib_with_reader_options(shared_data, tmp_path, capsys):
    root = shared_data / "cn-qlib-csi300-sample"
    args = ["ingest", "--source", f"qlib:{root}", "--benchmark", f"qlib:{root}#SH000905"]
    args += ["--option", "symbols=SH600010,sh600038", "--store", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "read: 2 stocks" in out and "read as suspended days (volume 0)" in out
    assert read_bars(tmp_path)["symbol"].unique().sort().to_list() == ["SH600010", "SH600038"]
    assert main([*args[:-2], "--option", "tolerance=x", "--store", str(tmp_path)]) == 2
    assert "does not take these options" in capsys.readouterr().err
