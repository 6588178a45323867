"""metrics.json is the dump of `RunMetrics`: read back typed, a misspelt key is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from report_support import CFG, seed_inputs

from cnnlstm.tasks.report import document, summary
from cnnlstm.tasks.report.build import build_report, write_report
from cnnlstm.tasks.report.caveats import RunFacts
from cnnlstm.tasks.report.measures import (
    RunMetrics,
    Table2Stats,
    dump_metrics,
    load_metrics,
    metrics_schema,
)
from cnnlstm.tasks.report.seeds import combine

SCHEMA = Path(__file__).parents[3] / "docs" / "metrics.schema.json"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> str:
    """A real report's metrics.json: two seeds and their ensemble, as the report stage writes it."""
    built = {s: build_report(seed_inputs(int(s))[0], CFG) for s in ("0", "1")}
    ensemble = build_report(seed_inputs(7)[0], CFG)
    report = combine(built, ensemble, RunFacts(seeds=(0, 1)), CFG)
    out = tmp_path_factory.mktemp("report")
    write_report(report, seed_inputs(0)[0].nav, out)
    return (out / "metrics.json").read_text()


def test_a_real_metrics_json_reads_back_typed_and_dumps_to_the_same_bytes(written):
    metrics = load_metrics(written)
    assert metrics.seeds == [0, 1]
    assert metrics.table2["cnn_lstm"].net_return.n == 2
    assert metrics.per_seed["1"].strategies["cnn"].excess_significant in (True, False)
    assert metrics.ensemble.strategies["cnn_lstm_ensemble"].blocked_attempts == 0
    assert [d.key for d in metrics.decisions][:2] == ["timing", "benchmark"]
    assert {c.severity for c in metrics.caveats} <= {"high", "medium", "low"}
    assert dump_metrics(metrics) == written  # the file is the model's dump, keys sorted


def _broken(written: str, change) -> str:
    data = json.loads(written)
    change(data)
    return json.dumps(data)


def test_a_misspelt_key_is_refused_naming_where_it_is(written):
    def misspell(data):
        row = data["per_seed"]["0"]["strategies"]["cnn"]
        row["net_retrun"] = row.pop("net_return")

    with pytest.raises(ValidationError) as err:
        load_metrics(_broken(written, misspell))
    text = str(err.value)
    assert "per_seed.0.strategies.cnn.net_retrun" in text and "Extra inputs" in text
    assert "per_seed.0.strategies.cnn.net_return" in text and "Field required" in text


def test_an_unknown_key_or_a_wrong_type_is_refused(written):
    with pytest.raises(ValidationError, match=r"table2\.cnn\.sharp\b"):
        load_metrics(_broken(written, lambda d: d["table2"]["cnn"].update(sharp={})))
    with pytest.raises(ValidationError, match="n_trials"):
        load_metrics(_broken(written, lambda d: d.update(n_trials="seven")))
    with pytest.raises(ValidationError, match=r"caveats\.0\.severity"):
        load_metrics(_broken(written, lambda d: d["caveats"][0].update(severity="dire")))


def test_every_row_the_report_prints_names_a_field_of_the_model():
    """A misspelt row key fails the render (`getattr`), not an "n/a" cell in Table 2."""
    for key, _, _ in (*document.ROWS, *summary.SCREEN_ROWS):
        assert key in Table2Stats.model_fields, key


def test_the_committed_schema_is_the_models():
    """docs/metrics.schema.json is generated: `metrics_schema()` writes it."""
    assert SCHEMA.read_text() == metrics_schema()
    assert json.loads(SCHEMA.read_text())["title"] == RunMetrics.__name__
