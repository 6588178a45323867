"""The research chain both research flows run, from the data to the report and MLflow.

Data, every seed's trainings, the strategy runs of each seed and of the seed ensemble, the
report over the seeds, the MLflow runs.

Input contract: the flow's `ResearchParams` and a `Plan`: the protocol the report and MLflow see,
the span to ingest, and the folds, each a test period, the period its CNN trains on and the LSTM
block that times it (a block: the period its LSTM's training windows end in). `backtest` is one
fold (`Plan.single`); `walk_forward` one fold per month and a block every k months.

Every (seed, fold) CNN and (seed, block) LSTM is submitted to the flow's task runner at once, and
all of them finish before any network is used: loading a checkpoint builds a module, which draws
from torch's global random generator, and doing that while a pool thread trains would change that
training's dropout masks, so runs would not repeat. Then each `Member` (one training seed, or the
ensemble of every seed: `Member.ensemble`) selects and times every fold with its networks; the
folds are chained into one selection and one signal table, backtested with cost sensitivity,
reported over the seeds and logged to MLflow (`evaluate.report_and_track`).

Stage labels: the stage, the fold's name, the member's tag (`train_cnn 2013-02 seed 1`,
`select ensemble`, `backtest 0`).
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.flows.export import results_writer
from cnnlstm.flows.params import Period, Protocol, ResearchParams
from cnnlstm.flows.stages.cache import StageRunner, stage_task
from cnnlstm.flows.stages.data import (
    Dataset,
    cnn_features,
    ingest,
    input_fingerprint,
    lstm_windows,
    validate,
)
from cnnlstm.flows.stages.evaluate import (
    report_and_track,
    seeded_configs,
    strategy_run,
    trials_before_training,
)
from cnnlstm.flows.stages.strategy import (
    ReportFiles,
    SeedRun,
    Selections,
    select,
    select_ensemble,
    signals,
    signals_ensemble,
)
from cnnlstm.flows.stages.track import TrackedRun
from cnnlstm.flows.stages.training import TrainedRef, train_cnn_stage, train_lstm_stage
from cnnlstm.infra.artifacts import ArtifactRef, write_table


class Block(BaseModel):
    """The LSTM of a block: trained on the windows that end inside `train`."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="its part of stage labels: '' or the block's first month")
    train: Period


class Fold(BaseModel):
    """One test piece: its period, the CNN's training period, the LSTM block that times it."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="its part of stage labels: '' or the test month (2013-02)")
    test: Period
    cnn_train: Period
    block: int = Field(ge=0, description="index of its block in `Plan.blocks`")


class Plan(BaseModel):
    """What a research flow trains and tests: the protocol, the span read, folds and blocks."""

    model_config = ConfigDict(frozen=True)

    protocol: Protocol
    ingest_span: Period | None = Field(description="the bars read (None: the source's all)")
    folds: list[Fold] = Field(min_length=1)
    blocks: list[Block] = Field(min_length=1)

    @classmethod
    def single(cls, protocol: Protocol, ingest_span: Period | None) -> Plan:
        """One fold: train both networks on `protocol.train`, test on `protocol.test`."""
        fold = Fold(name="", test=protocol.test, cnn_train=protocol.train, block=0)
        block = Block(name="", train=protocol.train)
        return cls(protocol=protocol, ingest_span=ingest_span, folds=[fold], blocks=[block])


class Member(BaseModel):
    """Whose networks decide one strategy run: a training seed's, or every seed's ensemble."""

    model_config = ConfigDict(frozen=True)

    seed: int | None = Field(None, description="the training seed; None: the seed ensemble")

    @property
    def ensemble(self) -> bool:
        """Whether this is the seed ensemble (mean CNN scores, mean LSTM P(up))."""
        return self.seed is None

    @property
    def label(self) -> str:
        """The strategy run's label: the seed as text, or `ensemble`."""
        return "ensemble" if self.seed is None else str(self.seed)

    def tag(self, seeded: bool) -> str:
        """Its part of stage labels (none for the one seed of a run that asked for no seeds)."""
        if self.seed is None:
            return " ensemble"
        return f" seed {self.seed}" if seeded else ""


class SeedNetworks(BaseModel):
    """One seed's trained networks: a CNN per fold, an LSTM per block."""

    model_config = ConfigDict(frozen=True)

    cnns: list[TrainedRef]
    lstms: list[TrainedRef]


class ResearchResult(BaseModel):
    """What the research chain produced: every member's run, the report, the MLflow run."""

    model_config = ConfigDict(frozen=True)

    runs: list[SeedRun]  # one per seed, in the seeds' order
    ensemble: SeedRun | None
    networks: dict[int, SeedNetworks]
    files: ReportFiles
    tracked: TrackedRun | None


def stage_label(stage: str, fold: str, tag: str) -> str:
    """`<stage> <fold><tag>`, the fold left out where it has no name."""
    return f"{stage} {fold}{tag}" if fold else f"{stage}{tag}"


def run_research(
    run: StageRunner,
    research: ResearchParams,
    plan: Plan,
    *,
    config: BaseModel,
    out_dir: str | None,
    flow_name: str,
) -> ResearchResult:
    """Run `plan` (see the module docstring); `config` is what `out_dir`'s config.yaml holds."""
    n_trials = trials_before_training(research, plan.protocol)  # before training: see evaluate
    data = research.data
    ingested = run(ingest, data, input_fingerprint(data), plan.ingest_span, research.market)
    dataset = run(validate, ingested, plan.protocol, data)
    features = run(cnn_features, dataset.bars, research.cnn_features, dataset.universe)
    trained = train_seeds(run, research, plan, dataset, features)
    members = [Member(seed=s) for s in trained] + ([Member()] if len(trained) > 1 else [])
    done = {m: member_run(run, research, plan, dataset, features, m, trained) for m in members}
    runs = [r for m, r in done.items() if not m.ensemble]
    ensemble = done.get(Member())
    files, tracked = report_and_track(
        run, research, ingested, dataset, plan.protocol, runs, ensemble, flow_name=flow_name,
        before_tracking=results_writer(out_dir, run=run, params=config, first=runs[0]),
        n_trials=n_trials,
    )  # fmt: skip
    return ResearchResult(
        runs=runs, ensemble=ensemble, networks=trained, files=files, tracked=tracked
    )


def train_seeds(
    run: StageRunner,
    research: ResearchParams,
    plan: Plan,
    dataset: Dataset,
    features: ArtifactRef,
) -> dict[int, SeedNetworks]:
    """Every seed's CNN per fold and LSTM per block, submitted together, collected together."""
    window_cfg = research.lstm_window_config()
    windows = [run.submit(lstm_windows, dataset.bars, window_cfg, b.train) for b in plan.blocks]
    futures = {
        seed: (
            [run.submit(train_cnn_stage, features, cnn_cfg, f.cnn_train) for f in plan.folds],
            [run.submit(train_lstm_stage, w, lstm_cfg) for w in windows],
        )
        for seed, (cnn_cfg, lstm_cfg) in seeded_configs(research).items()
    }
    for block, future in zip(plan.blocks, windows, strict=True):
        run.collect(future, stage_label("lstm_windows", block.name, ""))
    seeded = research.seeds is not None
    trained = {}
    for seed, (cnns, lstms) in futures.items():
        tag = Member(seed=seed).tag(seeded)
        trained[seed] = SeedNetworks(
            cnns=[
                run.collect(f, stage_label("train_cnn", fold.name, tag))
                for fold, f in zip(plan.folds, cnns, strict=True)
            ],
            lstms=[
                run.collect(f, stage_label("train_lstm", block.name, tag))
                for block, f in zip(plan.blocks, lstms, strict=True)
            ],
        )
    return trained


def member_run(
    run: StageRunner,
    research: ResearchParams,
    plan: Plan,
    dataset: Dataset,
    features: ArtifactRef,
    member: Member,
    trained: dict[int, SeedNetworks],
) -> SeedRun:
    """One member's selection and signals over every fold, chained and backtested."""
    tag = member.tag(research.seeds is not None)
    parts = [
        fold_decisions(run, research, dataset, features, fold, i, member, trained)
        for i, fold in enumerate(plan.folds)
    ]
    picks, timing = parts[0]
    if len(parts) > 1:
        picks, timing = run(
            chain_months, [p for p, _ in parts], [t for _, t in parts], label=f"chain_months{tag}"
        )
    own = SeedNetworks(cnns=[], lstms=[]) if member.seed is None else trained[member.seed]
    return strategy_run(
        run, research, dataset, member.label, picks, timing, own.cnns, own.lstms,
        protocol=plan.protocol,
    )  # fmt: skip


def fold_decisions(
    run: StageRunner,
    research: ResearchParams,
    dataset: Dataset,
    features: ArtifactRef,
    fold: Fold,
    index: int,
    member: Member,
    trained: dict[int, SeedNetworks],
) -> tuple[Selections, ArtifactRef]:
    """A member's selection and signals over one fold (the `index`-th of the plan)."""
    tag = member.tag(research.seeds is not None)
    if member.seed is None:
        cnn = [t.cnns[index] for t in trained.values()]
        lstm = [t.lstms[fold.block] for t in trained.values()]
        picker, timer = select_ensemble, signals_ensemble
    else:
        cnn, lstm = trained[member.seed].cnns[index], trained[member.seed].lstms[fold.block]
        picker, timer = select, signals
    picks = run(
        picker, features, cnn, research.selection, fold.test,
        label=stage_label("select", fold.name, tag),
    )  # fmt: skip
    timing = run(
        timer, dataset, picks, lstm, research.lstm_window_config(), fold.test,
        label=stage_label("signals", fold.name, tag),
    )  # fmt: skip
    return picks, timing


@stage_task("chain_months", version=1)
def chain_months(parts: list[Selections], signal_parts: list[ArtifactRef]) -> tuple:
    """Concatenate the folds' selections and signals into one of each."""

    def concat(refs: list[ArtifactRef]) -> ArtifactRef:
        return write_table(pl.concat([r.read_table() for r in refs]), "chain_months")

    selections = Selections(
        scores=concat([p.scores for p in parts]),
        cnn=concat([p.cnn for p in parts]),
        momentum=concat([p.momentum for p in parts]),
        universe=concat([p.universe for p in parts]),
    )
    signal_table = pl.concat([s.read_table() for s in signal_parts]).unique(
        ["symbol", "date"], keep="last", maintain_order=True
    )
    return selections, write_table(signal_table, "chain_months")


class ResearchOutcome(BaseModel):
    """What a research flow returns: its report, networks, MLflow run and stages."""

    model_config = ConfigDict(frozen=True)

    table2: str  # the full report (markdown)
    summary: str  # its one-screen form: caveats, Table 2, the comparisons that decide
    report: ReportFiles
    seeds: list[int]
    networks: list[TrainedRef]  # per seed: its CNNs (one per fold), then its LSTMs
    tracked: TrackedRun | None
    stages: dict[str, str]
    seconds: dict[str, float] = Field(default_factory=dict)
    peak_rss_mib: dict[str, float] = Field(default_factory=dict)
    """Each stage's peak resident memory of the flow's process (MiB; `cnnlstm.core.memory`)."""
    out_dir: str | None = None

    @property
    def mlflow_run(self) -> str | None:
        """The parent MLflow run's id (None with tracking off)."""
        return None if self.tracked is None else self.tracked.run_id

    @classmethod
    def of(cls, result: ResearchResult, run: StageRunner, out_dir: str | None, **extra):
        """The outcome of `result`, with the stages `run` recorded (and a subclass's `extra`)."""
        return cls(
            table2=result.files.markdown,
            summary=result.files.summary,
            report=result.files,
            seeds=list(result.networks),
            networks=[n for s in result.networks.values() for n in (*s.cnns, *s.lstms)],
            tracked=result.tracked,
            stages=dict(run.states),
            seconds=dict(run.seconds),
            peak_rss_mib=dict(run.peak_rss_mib),
            out_dir=out_dir,
            **extra,
        )
