"""The grid runner on real spambase rows: stacks, the store, resume and failed runs."""

from __future__ import annotations

import math

import pytest

from symact.experiments import (
    DataCache,
    DataSpec,
    ResultsStore,
    RunSpec,
    run_grid,
)
from symact.models import HEAVY, LIGHT
from symact.training import TrainConfig

DATA = DataSpec("spambase", rows=None)
FAST = TrainConfig(epochs=2)


def _spec(data: DataSpec, activation: str, seed: int, architecture: str = "light") -> RunSpec:
    model = (LIGHT if architecture == "light" else HEAVY).with_activation(activation)
    return RunSpec(data, model, seed, FAST)


@pytest.fixture()
def data(canonical_data_dir) -> DataCache:
    return DataCache(str(canonical_data_dir))


@pytest.fixture()
def spam(data) -> DataSpec:
    """The spambase slice's DataSpec, with its rows' fingerprint (as run keys need)."""
    return data.identify(DATA)


def test_runs_every_spec_once_and_a_rerun_trains_nothing(tmp_path, data, spam):
    specs = [
        _spec(spam, "relu", 1),
        _spec(spam, "mul(cos(x), x)", 1),
        _spec(spam, "relu", 2),
        _spec(spam, "relu", 1, "heavy"),
        _spec(spam, "relu", 1),
    ]  # the last is a duplicate
    events = []
    with ResultsStore(tmp_path / "s.sqlite") as store:
        first = run_grid(specs, store, data, progress=lambda *a: events.append(a))
        assert (first.total, first.trained, first.skipped, first.failed) == (4, 4, 0, 0)
        assert store.count() == 4
        assert events[-1][1] == events[-1][2] == 4 * FAST.epochs  # the bar reached its total
        r = store.get_run(_spec(spam, "relu", 1).key())
        assert 0.65 < r["accuracy"] <= 1.0 and r["params"] == 6017  # majority class: ~0.6
        assert r["environment"]["torch"] and len(r["loss_history"]) == 2
        assert store.get_run(_spec(spam, "relu", 1, "heavy").key())["params"] == 32401
        stamps = {s.key(): store.finished_at(s.key()) for s in specs}

        again = run_grid([*specs, _spec(spam, "gelu", 1)], store, data)
        assert (again.trained, again.skipped) == (1, 4)
        assert {s.key(): store.finished_at(s.key()) for s in specs} == stamps


def test_a_diverging_run_is_stored_as_failed_and_the_grid_goes_on(tmp_path, data, spam):
    boom = _spec(spam, "mul(exp(exp(x)), 1e30)", 1)
    fine = _spec(spam, "relu", 1)
    with ResultsStore(tmp_path / "s.sqlite") as store:
        summary = run_grid([boom, fine], store, data)
        assert summary.failed == 1 and summary.trained == 2
        bad = store.get_run(boom.key())
        assert bad["failed"] is True
        assert "nan" in bad["failure_reason"] or "inf" in bad["failure_reason"]
        assert bad["accuracy"] is None  # NaN is stored as null: results.json stays JSON
        good = store.get_run(fine.key())
        assert good["failed"] is False and good["accuracy"] > 0.65


def test_stack_size_follows_the_work_of_one_model():
    from symact.experiments.runner import STACK_WORK, max_stack_size

    light, heavy = 80_000 * 15 * 5536, 80_000 * 15 * 30_900  # covertype, protocol defaults
    assert max_stack_size(light, "cpu") == 3
    assert max_stack_size(heavy, "cpu") == 1
    assert max_stack_size(8_000 * 15 * 3_872, "cpu") == int(STACK_WORK // (8_000 * 15 * 3_872))
    assert max_stack_size(1.0, "cpu") == 64  # short trainings: one large stack
    assert max_stack_size(heavy, "cuda") == max_stack_size(light, "cuda") == 64


def test_a_large_grid_gets_larger_stacks_one_seed_each():
    """A grid of hundreds of long runs (the development suite to convergence) stacks a seed's
    activations together, where the same models in a small grid train one by one; a small
    grid's plan is unchanged and no stack exceeds the largest work."""
    from symact.experiments.runner import (
        LARGEST_STACK_WORK,
        STACK_WORK,
        grid_stack_work,
        plan_jobs,
    )

    long = TrainConfig(epochs=300)
    acts = ("relu", "gelu", "silu", "mish", "elu", "selu")
    tables = [DataSpec(f"table{i}", rows=None) for i in range(13)]
    specs = [
        RunSpec(t, LIGHT.with_activation(a), seed, long)
        for t in tables
        for seed in range(10)
        for a in acts
    ]
    rows = 11_000  # one model: 11,000 rows x 300 epochs x ~3,600 weights = 0.6 x STACK_WORK
    shape = lambda spec: (20, rows)  # noqa: E731
    one = LIGHT.cost(20, rows, 300)
    assert 0.5 * STACK_WORK < one < STACK_WORK
    small = plan_jobs([s for s in specs if s.data is tables[0]], shape, min_jobs=2)
    assert {len(j.specs) for j in small} == {1}
    large = plan_jobs(specs, shape, min_jobs=2)
    assert {len(j.specs) for j in large} == {6}
    assert all(len({s.seed for s in j.specs}) == 1 for j in large)
    assert all(len({s.model.activation for s in j.specs}) == 6 for j in large)
    assert max(j.cost for j in large) <= LARGEST_STACK_WORK
    assert grid_stack_work(1e9, 2) == STACK_WORK  # a small grid: as before
    assert grid_stack_work(1e20, 2) == LARGEST_STACK_WORK
    assert grid_stack_work(1e20, 2, stack_work=math.inf) == math.inf  # no cap stays no cap


def test_long_trainings_are_cut_into_stacks_per_dataset(tmp_path, data, spam):
    """Each (dataset, architecture) gets its own stack size: a grid whose first runs are short
    must not put a long dataset's models into one stack (the covertype Heavy stack once was
    the paper suite's critical path)."""
    small = data.identify(DataSpec("spambase", rows=1000))
    specs = [RunSpec(small, LIGHT, s, FAST) for s in (1, 2, 3, 4)]
    light = [_spec(spam, a, s) for a in ("relu", "gelu") for s in (1, 2, 3)]
    heavy = [_spec(spam, "relu", s, "heavy") for s in (1, 2)]
    specs += light + heavy
    # per model: spambase light 3680 rows x 2 epochs x 5728 weights = 4.2e7; heavy 2.4e8;
    # the 1000-row subset (800 training rows) 9.2e6
    with ResultsStore(tmp_path / "s.sqlite") as store:
        summary = run_grid(specs, store, data, stack_work=1.3e8)
        assert summary.trained == len(specs) and summary.failed == 0
        size = {s.key(): store.get_run(s.key())["stack_size"] for s in specs}
    assert [size[s.key()] for s in specs[:4]] == [4] * 4  # 14 fit: all four together
    # cut stacks hold one seed each (one batch gather per step): relu + gelu of a seed
    assert [size[s.key()] for s in light] == [2] * 6
    assert [size[s.key()] for s in heavy] == [1, 1]  # one by one


def test_a_grid_that_fits_one_stack_is_cut_to_keep_every_core_busy():
    """A search round (32 candidates x 2 seeds of a short training) fits one stack by work;
    with two cores it becomes one stack per seed, and never more stacks than models."""
    from symact.experiments.runner import plan_jobs

    formulas = [f"mul(x, {c}.5)" for c in range(1, 33)]
    specs = [_spec(DATA, f, seed) for seed in (1, 2) for f in formulas]
    shape = lambda spec: (57, 3_000)  # noqa: E731  (spambase-like, short)
    (whole,) = plan_jobs(specs, shape)  # min_jobs=1: everything in one stack
    assert len(whole.specs) == 64
    halves = plan_jobs(specs, shape, min_jobs=2)
    assert [len(j.specs) for j in halves] == [32, 32]
    assert [{s.seed for s in j.specs} for j in halves] in ([{1}, {2}], [{2}, {1}])
    assert sum(j.cost for j in halves) == pytest.approx(whole.cost)
    four = plan_jobs(specs, shape, min_jobs=4)  # one seed per stack, then halves of a seed
    assert sorted(len(j.specs) for j in four) == [16, 16, 16, 16]
    assert len(plan_jobs(specs[:1], shape, min_jobs=8)) == 1  # one model stays one stack


def test_plan_jobs_groups_by_shape_and_rows_and_every_stack_trains(data):
    """Moved from the training stage's second planner (``plan_stacks``, removed): runs share
    a stack only with the same network structure, head and training rows; equal activations
    sit together; a stack cut by work holds one seed; every planned stack trains."""
    from symact.experiments.runner import plan_jobs
    from symact.training import TrainTask, train_stack

    small = DataSpec("spambase", rows=1_000)
    xcos = LIGHT.with_activation("mul(x, cos(x))")
    specs = [
        RunSpec(DATA, LIGHT, 1, FAST),
        RunSpec(DATA, HEAVY, 1, FAST),
        RunSpec(DATA, xcos, 1, FAST),
        RunSpec(small, LIGHT, 1, FAST),
        RunSpec(DATA, LIGHT, 2, FAST),
        RunSpec(DATA, xcos, 2, FAST),
        RunSpec(DATA, LIGHT.with_outputs(3), 1, FAST),  # another head: another stack
    ]
    splits = {id(s): data.split(s.data, s.split) for s in specs}

    def shape(spec: RunSpec) -> tuple[int, int]:
        return splits[id(spec)].X_train.shape[1], len(splits[id(spec)].X_train)

    def plan(**options) -> list[list[int]]:
        jobs = plan_jobs(specs, shape, **options)
        return sorted([specs.index(s) for s in job.specs] for job in jobs)

    assert plan() == [[0, 4, 2, 5], [1], [3], [6]]  # same activations adjacent
    light_cost = LIGHT.cost(*shape(specs[0]), FAST.epochs)
    cut = plan(stack_work=2.5 * light_cost)  # two Light models a stack: cut by seed
    assert cut == [[0, 2], [1], [3], [4, 5], [6]]
    for job in plan_jobs(specs, shape):
        parts = [splits[id(s)] for s in job.specs]
        tasks = [
            TrainTask(p.X_train, p.y_train, p.X_test, p.y_test, s.model, s.seed)
            for p, s in zip(parts, job.specs, strict=True)
        ]
        outs = train_stack(tasks, TrainConfig(epochs=1))
        assert [o.params for o in outs] == [s.model.param_count(57) for s in job.specs]
