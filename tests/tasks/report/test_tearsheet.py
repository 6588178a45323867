"""The tear sheet: one self-contained HTML file, opened offline in a real headless Chromium.

The browser test renders the file with Debian's `chromium` (skipped with a reason when it is
not installed): the screenshot must be a non-blank PNG and the page must log no console error
and request nothing from the network.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib

import numpy as np
import pytest
from report_support import CFG, seed_inputs

from cnnlstm.tasks.report.build import build_report
from cnnlstm.tasks.report.caveats import RunFacts
from cnnlstm.tasks.report.seeds import combine
from cnnlstm.tasks.report.tearsheet import seed_matrix, tear_sheet_html

SEEDS = ("0", "1", "2")


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    inputs = {s: seed_inputs(int(s))[0] for s in SEEDS}
    built = {s: build_report(i, CFG) for s, i in inputs.items()}
    report = combine(built, None, RunFacts(seeds=(0, 1, 2)), CFG)
    assert report.metrics.deciles.deciles["10"].mean is not None  # the CNN's deciles
    navs = {s: i.nav for s, i in inputs.items()}
    text = tear_sheet_html(report.metrics, report.markdown, report.summary, navs)
    path = tmp_path_factory.mktemp("sheet") / "report.html"
    path.write_text(text, encoding="utf-8")
    return path, text, navs


def test_the_sheet_is_self_contained_with_every_chart_and_table(sheet):
    _, text, _ = sheet
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing to fetch
    assert "<script" not in text and "<link" not in text
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", text)
    assert captions == [
        "Net value: mean over seeds, min..max band", "Drawdown", "Position ratio of CNN-LSTM",
        "Timing&#x27;s contribution over time", "Yearly returns", "Cost sensitivity",
        "Score buckets",
    ]  # fmt: skip
    assert len(re.findall(r'src="data:image/png;base64,', text)) == len(captions)
    for heading in ("Table 2: mean ± std", "Per seed", "Cost sensitivity", "Yearly returns",
                    "Comparisons that decide", "Notes: rule counts, capacity"):  # fmt: skip
        assert heading in text


def test_the_band_spans_the_seeds(sheet):
    _, _, navs = sheet
    dates, values = seed_matrix(navs, "cnn_lstm")
    assert values.shape == (3, len(dates))
    assert np.all(values.min(axis=0) <= values.mean(axis=0))
    assert np.any(values.max(axis=0) > values.min(axis=0))


def _png_is_not_blank(data: bytes) -> bool:
    """Decode the PNG's pixels (8-bit RGB/RGBA, no filters needed to count colours roughly)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    return len(set(raw[i : i + 3] for i in range(0, min(len(raw), 3_000_000), 997))) > 20


def test_it_renders_offline_in_headless_chromium(sheet, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    path, _, _ = sheet
    shot = tmp_path / "sheet.png"
    done = subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1280,2400", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", f"--screenshot={shot}", path.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shot.is_file() and shot.stat().st_size > 50_000, done.stderr[-2000:]
    assert _png_is_not_blank(shot.read_bytes())
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    failed = [line for line in done.stderr.splitlines() if "net::ERR" in line]
    assert not failed, failed
