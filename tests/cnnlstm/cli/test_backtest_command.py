from __future__ import annotations

from datetime import date

import pytest

from cnnlstm.cli.commands.backtest import build_params
from cnnlstm.cli.main import build_parser, main


def _params(*argv: str):
    return build_params(build_parser().parse_args(["backtest", *argv]))


def test_no_arguments_is_the_sim_market_fast_profile_paper_split():
    params = _params()
    assert params.data.is_sim and params.profile == "fast" and params.market == "cn"
    assert params.protocol.train.start == date(2007, 1, 1)
    assert params.protocol.test.end == date(2017, 3, 31)
    assert params.tracking.enabled


def test_split_is_fitted_to_a_short_sim_span():
    params = _params("--sim", "n_stocks=40", "--sim", "start=2010-01-01", "--sim", "end=2013-12-31")
    assert params.data.sim.n_stocks == 40
    assert params.protocol.train.start == date(2011, 3, 1)
    assert params.protocol.test.end == date(2013, 12, 31)


def test_explicit_source_periods_and_options():
    params = _params(
        "--source", "csv:/data/stocks", "--benchmark", "csv:/data/index.csv",
        "--option", "symbols=AAPL,MSFT", "--train", "2013-03-01:2015-12-31",
        "--test", "2016-01-01:2018-01-31", "--market", "us", "--profile", "paper",
        "--execution", "close", "--no-mlflow", "--refresh",
    )  # fmt: skip
    assert params.data.source_options == {"symbols": ["AAPL", "MSFT"]}
    assert params.protocol.execution == params.lstm_window_config().execution == "close"
    assert params.market_config().name == "us" and params.cnn_config().profile == "paper"
    assert not params.tracking.enabled and params.refresh
    assert not params.report.survivorship_caveat


def test_survivorship_biased_adds_the_caveat_to_the_report():
    assert _params("--survivorship-biased").report.survivorship_caveat


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--train", "2014-01-01:2013-01-01", "--test", "2015-01-01:2016-01-01"], "END must come"),
        (["--train", "2010-01-01:2012-12-31"], "both --train and --test"),
        (["--train", "2010-01-01:2012-12-31", "--test", "2012-06-01:2013-06-01"], "out of sample"),
        (["--sim", "n_stocks=1"], "sim.n_stocks"),
    ],
)
def test_bad_settings_are_one_line_errors(argv, message, capsys):
    assert main(["backtest", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err
