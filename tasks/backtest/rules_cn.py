"""The A-share rule table (data): price bands, new listings, stamp duty, transfer fee, lots.

Every row names its source. "Verified" means the rule was confirmed in the stored reference
material searched for this table; "not verified here" means it is encoded from the exchanges'
and ministries' published notices as commonly cited, without a stored copy to check against:
check those rows against the notices before relying on them. Override or extend any row from
configuration (`MarketConfig.rules_extra`). Commission and its minimum are broker terms, not
exchange rules: they stay `MarketConfig` numbers.
"""

from __future__ import annotations

from datetime import date

from cnnlstm.tasks.backtest.rules import (
    LimitRule,
    LotRule,
    NewListingRule,
    RuleTable,
    StampDutyRule,
    TransferFeeRule,
)

_SSE_SZSE_1996 = (
    "SSE/SZSE notice on price limits (effective 1996-12-16): +-10% of the previous close "
    "(not verified here)"
)
_ST_1998 = (
    "SSE/SZSE special-treatment rules (ST, 1998): +-5% for risk-warning stocks (not verified here)"
)
_ST_2025 = (
    "SSE/SZSE notice adjusting the price limit of main-board risk-warning stocks from 5% to 10% "
    "(draft published 2025-06-27, seen in stored news copies; effective date 2025-07-07 not "
    "verified here)"
)
_CHINEXT_2020 = (
    "SZSE ChiNext trading special provisions under the registration system (effective "
    "2020-08-24): +-20%, first 5 sessions of a new listing without limit (not verified here)"
)
_STAR_2019 = (
    "SSE STAR Market trading special provisions (first listings 2019-07-22): +-20%, first 5 "
    "sessions without limit, buys of at least 200 shares in 1-share steps (not verified here)"
)
_BSE_2021 = (
    "BSE trading rules (exchange opened 2021-11-15): +-30%, first session without limit, buys of "
    "at least 100 shares in 1-share steps (not verified here)"
)
_MAIN_REG_2023 = (
    "SSE/SZSE main-board registration-system trading rules (effective 2023-04-10): first 5 "
    "sessions of a new listing without limit (not verified here)"
)
_IPO_FIRST_DAY = (
    "a new listing's first session: without limit before 2014, +44%/-36% of the issue price "
    "since 2014 (SSE/SZSE 2013-12 notice); the data carry no issue price, so the first session "
    "is left without a band (approximation, not verified here)"
)
_STAMP = "Ministry of Finance / State Taxation Administration stamp duty announcements"
_XFER_2015 = (
    "CSDC notice: transfer fee 0.02 per mille of the traded value on SH and SZ from 2015-08-01 "
    "(not verified here)"
)
_XFER_2022 = (
    "CSDC notice: transfer fee halved to 0.01 per mille from 2022-04-29 (not verified here)"
)
_XFER_SH_2012 = (
    "CSDC: SH transfer fee 0.6 CNY per 1000 shares from 2012-09-01 (1 CNY per 1000 before); SZ "
    "included in commission (not verified here)"
)
_LOT_100 = "SSE/SZSE trading rules: buys in round lots of 100 shares, odd remainders sold at once"

CN_RULES = RuleTable(
    limits=(
        LimitRule(board="main", start=date(1996, 12, 16), band=0.10, source=_SSE_SZSE_1996),
        LimitRule(board="main", status="st", start=date(1998, 4, 22), band=0.05, source=_ST_1998),
        LimitRule(board="main", status="st", start=date(2025, 7, 7), band=0.10, source=_ST_2025),
        # ChiNext opened 2009-10-30 under the main-board bands.
        LimitRule(board="chinext", start=date(2009, 10, 30), band=0.10, source=_SSE_SZSE_1996),
        LimitRule(
            board="chinext", status="st", start=date(2009, 10, 30), band=0.05, source=_ST_1998
        ),
        LimitRule(board="chinext", start=date(2020, 8, 24), band=0.20, source=_CHINEXT_2020),
        LimitRule(
            board="chinext", status="st", start=date(2020, 8, 24), band=0.20, source=_CHINEXT_2020
        ),
        LimitRule(board="star", start=date(2019, 7, 22), band=0.20, source=_STAR_2019),
        LimitRule(board="star", status="st", start=date(2019, 7, 22), band=0.20, source=_STAR_2019),
        LimitRule(board="bse", start=date(2021, 11, 15), band=0.30, source=_BSE_2021),
        LimitRule(board="bse", status="st", start=date(2021, 11, 15), band=0.30, source=_BSE_2021),
    ),
    new_listings=(
        NewListingRule(board="main", start=date(1996, 12, 16), free_days=1, source=_IPO_FIRST_DAY),
        NewListingRule(board="main", start=date(2023, 4, 10), free_days=5, source=_MAIN_REG_2023),
        NewListingRule(
            board="chinext", start=date(2009, 10, 30), free_days=1, source=_IPO_FIRST_DAY
        ),
        NewListingRule(board="chinext", start=date(2020, 8, 24), free_days=5, source=_CHINEXT_2020),
        NewListingRule(board="star", start=date(2019, 7, 22), free_days=5, source=_STAR_2019),
        NewListingRule(board="bse", start=date(2021, 11, 15), free_days=1, source=_BSE_2021),
    ),
    stamp_duty=(
        StampDutyRule(
            start=date(2005, 1, 24), buy=0.001, sell=0.001, source=f"{_STAMP}: 0.1% both sides"
        ),
        StampDutyRule(
            start=date(2007, 5, 30), buy=0.003, sell=0.003, source=f"{_STAMP}: 0.3% both sides"
        ),
        StampDutyRule(
            start=date(2008, 4, 24), buy=0.001, sell=0.001, source=f"{_STAMP}: 0.1% both sides"
        ),
        StampDutyRule(
            start=date(2008, 9, 19), buy=0.0, sell=0.001, source=f"{_STAMP}: 0.1% on sells only"
        ),
        StampDutyRule(
            start=date(2023, 8, 28),
            buy=0.0,
            sell=0.0005,
            source=f"{_STAMP} (MoF/SAT announcement 2023 No. 39): halved to 0.05% on sells",
        ),
    ),
    transfer_fees=(
        TransferFeeRule(
            exchange="SH", start=date(2012, 9, 1), per_share=0.0006, source=_XFER_SH_2012
        ),
        TransferFeeRule(exchange="SH", start=date(2015, 8, 1), rate=0.00002, source=_XFER_2015),
        TransferFeeRule(exchange="SZ", start=date(2015, 8, 1), rate=0.00002, source=_XFER_2015),
        TransferFeeRule(exchange="SH", start=date(2022, 4, 29), rate=0.00001, source=_XFER_2022),
        TransferFeeRule(exchange="SZ", start=date(2022, 4, 29), rate=0.00001, source=_XFER_2022),
    ),
    lots=(
        LotRule(board="main", start=date(1996, 12, 16), buy_min=100, buy_step=100, source=_LOT_100),
        LotRule(
            board="chinext", start=date(2009, 10, 30), buy_min=100, buy_step=100, source=_LOT_100
        ),
        LotRule(board="star", start=date(2019, 7, 22), buy_min=200, buy_step=1, source=_STAR_2019),
        LotRule(board="bse", start=date(2021, 11, 15), buy_min=100, buy_step=1, source=_BSE_2021),
    ),
)
"""The built-in A-share rules (`cn` preset)."""
