"""`--config` + `--set` as a user types them, through `cnnlstm config show` and `backtest`."""

from __future__ import annotations

import types
import typing
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from cnnlstm.cli.commands.backtest import build_params
from cnnlstm.cli.main import build_parser, main
from cnnlstm.flows.params import ResearchParams

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def _show(capsys, *argv: str) -> tuple[int, dict | None, str]:
    rc = main(["config", "show", *argv])
    captured = capsys.readouterr()
    return rc, (yaml.safe_load(captured.out) if rc == 0 else None), captured.err


def _at(tree, path: str):
    for part in path.split("."):
        tree = tree[part]
    return tree


def test_config_and_set_round_trip_through_config_show(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(
        "# a user's run\n"
        "data:\n  source: csv:/data/stocks\n  benchmark: csv:/data/index.csv\n"
        "protocol:\n  train: {start: 2013-03-01, end: 2015-12-31}\n"
        "  test: {start: 2016-01-01, end: 2018-01-31}\n"
        "market: us\nselection:\n  top_fraction: 0.05\n"
    )
    rc, shown, err = _show(
        capsys, "--config", str(config), "--set", "selection.top_fraction=0.1",
        "--set", "lstm.hidden=64", "--set", "market_overrides.slippage_rate=0.002",
        "--profile", "paper",
    )  # fmt: skip
    assert rc == 0, err
    assert shown["data"]["source"] == "csv:/data/stocks" and shown["market"] == "us"
    assert shown["protocol"]["train"] == {"start": "2013-03-01", "end": "2015-12-31"}
    assert shown["selection"]["top_fraction"] == 0.1  # --set wins over the file
    assert shown["lstm"]["hidden"] == 64 and shown["lstm"]["profile"] == "paper"
    assert shown["market_overrides"] == {"slippage_rate": 0.002}
    # what config show prints is a config file that gives the same run
    saved = tmp_path / "effective.yaml"
    saved.write_text(yaml.safe_dump(shown, sort_keys=False))
    rc, again, err = _show(capsys, "--config", str(saved))
    assert rc == 0, err and again == shown
    # and backtest builds exactly these parameters from it
    args = build_parser().parse_args(["backtest", "--config", str(saved)])
    assert build_params(args).effective().model_dump(mode="json") == shown


def test_flags_are_shorthands_for_field_paths(capsys):
    rc, flags, _ = _show(
        capsys, "--source", "csv:/d", "--store", "/s", "--market", "us", "--execution", "close",
        "--no-mlflow", "--survivorship-biased", "--option", "encoding=gbk",
    )  # fmt: skip
    rc2, sets, _ = _show(
        capsys, "--set", "data.source=csv:/d", "--set", "data.store=/s", "--set", "market=us",
        "--set", "protocol.execution=close", "--set", "tracking.enabled=false",
        "--set", "report.survivorship_caveat=true", "--set", "data.source_options.encoding=gbk",
    )  # fmt: skip
    assert rc == rc2 == 0 and flags == sets


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "selection.top_fractoin=0.1"], "selection.top_fractoin: unknown field"),
        (["--set", "protocol.hold_days=0"], "protocol.hold_days:"),
        (["--set", "cnn.epochs=many"], "cnn.epochs:"),
        (["--set", "market=cn.x=1"], "market:"),
        (["--config", "/nonexistent/run.yaml"], "cannot read config file"),
    ],
)
def test_bad_settings_name_their_field_path(argv, message, capsys):
    rc, _, err = _show(capsys, *argv)
    assert rc == 2 and err.startswith("error:") and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_set_without_a_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["config", "show", "--set", "noequals"])
    assert "expected PATH=VALUE" in capsys.readouterr().err


def _leaves(model: type[BaseModel], prefix: str = ""):
    """(dotted path, annotation) of every leaf field of `model` (nested models walked)."""
    for name, field in model.model_fields.items():
        ann = field.annotation
        inner = [a for a in typing.get_args(ann) if a is not type(None)]
        sub = next(
            (a for a in [ann, *inner] if isinstance(a, type) and issubclass(a, BaseModel)), None
        )  # noqa: E501
        if sub is not None:
            yield from _leaves(sub, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", ann


def _candidate(ann, current):
    """A value different from `current` that the annotation admits (the CLI decides if valid)."""
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return next(a for a in args if a != current)
    if origin in (typing.Union, types.UnionType):
        literal = [a for a in args if typing.get_origin(a) is typing.Literal]
        if current is None or literal:
            choices = [v for a in literal for v in typing.get_args(a) if v != current]
            return choices[0] if choices else _candidate(args[0], None)
        return _candidate(type(current), current)
    if ann is bool:
        return not current
    if ann is int:
        return 3 if current is None else current + 1
    if ann is float:
        return 0.5 if not current else current * 0.5
    if ann is str:
        return "x" if not current else f"{current}x"
    if ann is date:
        return (date.fromisoformat(current) + timedelta(days=1)).isoformat()
    if origin in (list, tuple):
        return [*(current or [8]), (current or [8])[-1]]
    if origin is dict or ann is dict:
        return {"k": 1}
    raise AssertionError(f"no candidate for {ann!r}")


def test_every_research_field_is_reachable_through_set(capsys):
    rc, defaults, err = _show(capsys)
    assert rc == 0, err
    leaves = list(_leaves(ResearchParams))
    assert len(leaves) > 100  # the whole model is walked, not a sample
    changed = 0
    for path, ann in leaves:
        current = _at(defaults, path)
        if isinstance(current, dict):  # free-form maps: set one key
            rc, shown, err = _show(capsys, "--set", f"{path}.slippage_rate=0.002")
            if path.endswith("market_overrides"):
                assert rc == 0 and _at(shown, path) == {"slippage_rate": 0.002}, err
            else:
                assert rc == 0 and _at(shown, path)["slippage_rate"] == 0.002, (path, err)
            changed += 1
            continue
        value = _candidate(ann, current)
        text = yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()
        rc, shown, err = _show(capsys, "--set", f"{path}={text}")
        if rc == 0:
            assert _at(shown, path) == value, (path, value, _at(shown, path))
            changed += 1
        else:  # a refused value: the error names the field (or the section whose rule failed)
            parts = path.split(".")
            named = [".".join(parts[:i]) + ":" for i in range(1, len(parts) + 1)]
            assert err.startswith("error:") and any(n in err for n in named), (path, err)
            text = yaml.safe_dump(current, default_flow_style=True).removesuffix("\n...\n")
            rc, shown, err = _show(capsys, "--set", f"{path}={text.strip()}")
            assert rc == 0 and _at(shown, path) == current, (path, err)
    assert changed >= 0.8 * len(leaves)


@pytest.mark.parametrize("name", ["paper.yaml", "csi300.yaml", "sp500.yaml", "qlib_csi300.yaml"])
def test_example_configs_are_valid(name, capsys):
    rc, shown, err = _show(capsys, "--config", str(CONFIGS / name))
    assert rc == 0, err
    assert shown["protocol"]["test"]["start"] > shown["protocol"]["train"]["end"]


def test_values_read_as_yaml_1_2_no_is_text_dates_stay_dates(capsys):
    rc, shown, err = _show(
        capsys, "--set", "tracking.experiment=no", "--set", "refresh=true",
        "--set", "seeds=[0, 1]", "--set", "protocol.train.start=2007-02-01",
        "--set", "data.benchmark=qlib:/q#SH000300",
    )  # fmt: skip
    assert rc == 0, err
    assert shown["tracking"]["experiment"] == "no" and shown["refresh"] is True
    assert shown["seeds"] == [0, 1] and shown["protocol"]["train"]["start"] == "2007-02-01"
    assert shown["data"]["benchmark"] == "qlib:/q#SH000300"


def test_qlib_config_holds_qlibs_csi300_segments(capsys):
    rc, shown, err = _show(capsys, "--config", str(CONFIGS / "qlib_csi300.yaml"))
    assert rc == 0, err
    assert shown["protocol"]["test"] == {"start": "2017-01-01", "end": "2020-08-01"}
    assert shown["protocol"]["train"] == {"start": "2008-01-01", "end": "2016-12-31"}
    assert shown["data"]["benchmark"].endswith("#SH000300")
