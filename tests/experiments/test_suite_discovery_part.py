"""``discovery_part="train"``: one discovery per training seed, on that seed's split's
training part only, and each seed's runs train their own split's formula."""

from __future__ import annotations

from symact.discovery import GplearnSettings, discover_gplearn
from symact.experiments import DataCache, ResultsStore, make_suite, run_suite
from symact.experiments.datacache import training_part
from symact.experiments.specs import SplitSpec
from symact.experiments.suites import discovery_specs
from symact.training import TrainConfig

QUICK_GP = GplearnSettings(population_size=80, generations=2)


def _suite(part: str):
    return make_suite("builtin", datasets=("breast_cancer",), seeds=(1, 2), heavy=None,
                      activations=("relu",), train=TrainConfig(epochs=1), discovery=QUICK_GP,
                      discovery_part=part)  # fmt: skip


def test_the_papers_part_is_one_discovery_on_all_rows():
    (spec,) = discovery_specs(_suite("all"))
    assert spec.part is None


def test_training_parts_give_one_discovery_per_seed_that_never_saw_its_test_rows(tmp_path):
    suite = _suite("train")
    specs = discovery_specs(suite)
    assert [s.part for s in specs] == [SplitSpec(1, 0.2), SplitSpec(2, 0.2)]
    assert len({s.key() for s in specs}) == 2
    assert {s.key() for s in specs}.isdisjoint({s.key() for s in discovery_specs(_suite("all"))})
    cache = DataCache()
    with ResultsStore(tmp_path / "symact.sqlite") as store:
        outcome = run_suite(suite, store, cache)
    ds = cache.dataset(suite.datasets[0])
    for seed in (1, 2):
        found = outcome.discoveries[("breast_cancer", QUICK_GP.seed, seed)]
        X, y = training_part(ds, SplitSpec(seed, 0.2))
        alone = discover_gplearn(X, y, dataset=ds.display_name, settings=QUICK_GP)
        assert str(found.program) == str(alone.program)
        assert found.n_samples == alone.n_samples < round(0.1 * len(ds.y)) + 1
    # each seed's Specialist run trains the formula of its own split
    specialist = [e.spec for e in outcome.entries if e.activation_label.startswith("Hybrid")]
    assert sorted(s.seed for s in specialist) == [1, 2]
    for spec in specialist:
        own = outcome.discoveries[("breast_cancer", QUICK_GP.seed, spec.seed)]
        assert spec.model.activation == str(own.activation)
        assert spec.split == SplitSpec(spec.seed, 0.2)
