"""The report: metrics, statistics, evidence over seeds, caveats, figures, Table 2."""
