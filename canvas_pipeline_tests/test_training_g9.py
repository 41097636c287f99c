"""G9: each of the 9 trainers, built by the one factory on a random tiny Gemma-4, runs a
mini-train on the real phase datasets and moves the right way: the eval loss falls for
the SFT family; for the DPO family and KTO the eval reward margin is significantly above
zero over all pairs and significantly below zero on no pair type (each axis and mixed
pairs). A planted wrong objective (chosen and rejected swapped) fails. The same outcomes
make the G9 guardrail. The factory refuses to build without a usable eval dataset (G2 at
the trainer)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from canvas_pipeline.guardrails import load_bundle, run_guardrails
from canvas_pipeline.guardrails.checks import g9_mini_trains
from canvas_pipeline.training import mini_train as mini
from canvas_pipeline.training.data_prep import load_method_data
from canvas_pipeline.training.factory import EvalDatasetError, build_trainer
from canvas_pipeline.training.guardrail_config import check_config
from canvas_pipeline.training.methods import METHOD_NAMES, METHODS
from canvas_pipeline.training.mini_train import (
    ALPHA,
    MiniTrainOutcome,
    mini_profile,
    preference_wrong_way,
    run_mini_trains,
)

SFT_FAMILY = ("sft", "lora", "qlora")
PAIR_TYPES = {f"axis {n}" for n in range(1, 9)} | {"mixed", "all"}


@pytest.fixture(scope="module")
def outcomes(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, MiniTrainOutcome]:
    """The nine mini-trains, once: each test below reads its own method's outcome."""
    work = tmp_path_factory.mktemp("g9")
    return {o.method: o for o in run_mini_trains(real_slice, tiny_tokenizer_dir, work)}


@pytest.mark.parametrize("method_name", SFT_FAMILY)
def test_sft_family_mini_train_lowers_eval_loss(method_name: str, outcomes: dict[str, MiniTrainOutcome]) -> None:
    outcome = outcomes[method_name]
    assert outcome.passed, outcome.summary()
    assert outcome.after["eval_loss"] < outcome.before["eval_loss"] - 0.1
    if method_name == "sft":
        assert outcome.trainable_parameters == outcome.total_parameters
    else:  # adapters: a small share of the weights trains
        assert 0 < outcome.trainable_parameters < outcome.total_parameters / 5


@pytest.mark.parametrize("method_name", [m for m in METHOD_NAMES if m not in SFT_FAMILY])
def test_preference_mini_train_moves_every_axis_margin_the_right_way(
    method_name: str, outcomes: dict[str, MiniTrainOutcome]
) -> None:
    outcome = outcomes[method_name]
    assert set(outcome.after) == PAIR_TYPES, sorted(outcome.after)
    assert set(outcome.before.values()) == {0.0}  # policy == reference at the start
    assert outcome.passed, outcome.summary()
    assert outcome.after["all"] > 0 and outcome.p_values["all"]["p_above"] < ALPHA
    assert all(p["p_below"] >= ALPHA / 9 for p in outcome.p_values.values())


def test_a_planted_wrong_objective_fails_g9_naming_the_method(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DPO trained on its pairs with chosen and rejected swapped prefers the rejected side of
    unseen pairs: the overall margin is not above zero, and G9 names dpo."""
    real = mini._mini_data

    def swapped(data_dir: Path, method_name: str, seed: int):  # type: ignore[no-untyped-def]
        data = real(data_dir, method_name, seed)
        rows = [{**r, "chosen": r["rejected"], "rejected": r["chosen"]} for r in data.train_rows]
        return dataclasses.replace(data, train_rows=rows)

    monkeypatch.setattr(mini, "_mini_data", swapped)
    start = mini.save_start_model(tiny_tokenizer_dir, tmp_path / "start")
    reference_logps: mini.ReferenceLogps = {}  # judged as run_mini_trains judges: the start's log-probs kept
    outcome = mini.mini_train("dpo", real_slice, start, tmp_path / "dpo", reference_logps=reference_logps)
    assert [key[0] for key in reference_logps] == [str(start.resolve())]
    assert not outcome.passed and "all" in outcome.wrong_way, outcome.summary()
    assert outcome.after["all"] < 0 and outcome.p_values["all"]["p_below"] < ALPHA
    result = g9_mini_trains([outcome])
    assert result.passed is False and result.details[0].startswith("dpo: ")


def test_the_preference_verdict_is_a_test_not_the_sign_of_a_mean() -> None:
    fine = {f"axis {n}": (0.1, 0.9, 0.1) for n in range(1, 9)} | {"mixed": (0.1, 0.9, 0.1)}
    ok = {"all": {"margin": 0.2, "p_below": 0.99, "p_above": 0.001}}
    ok |= {k: {"margin": m, "p_below": b, "p_above": a} for k, (m, b, a) in fine.items()}
    assert preference_wrong_way(ok) == {}
    noisy = {**ok, "axis 8": {"margin": -0.05, "p_below": 0.2, "p_above": 0.8}}  # within noise: not wrong
    assert preference_wrong_way(noisy) == {}
    negative = {**ok, "axis 8": {"margin": -0.3, "p_below": 0.001, "p_above": 0.999}}
    assert preference_wrong_way(negative) == {"axis 8": -0.3}
    flat = {**ok, "all": {"margin": 0.01, "p_below": 0.4, "p_above": 0.3}}
    assert preference_wrong_way(flat) == {"all": 0.01}
    assert preference_wrong_way({"all": ok["all"]}) == {"missing pair types": 9.0}


def test_g9_guardrail_passes_on_the_mini_trains_and_names_a_wrong_way_method(
    real_slice: Path, tiny_tokenizer_dir: Path, outcomes: dict[str, MiniTrainOutcome]
) -> None:
    config = dataclasses.replace(check_config("tiny", tiny_tokenizer_dir), mini_trains=lambda: list(outcomes.values()))
    result = next(r for r in run_guardrails(load_bundle(real_slice), config, ("G9",)))
    assert result.passed is True and set(result.value) == set(METHOD_NAMES)

    flipped = dataclasses.replace(outcomes["kto"], after={"axis 6": -0.05}, wrong_way={"axis 6": -0.05})
    failed = g9_mini_trains([*(o for m, o in outcomes.items() if m != "kto"), flipped])
    assert failed.passed is False and failed.n_offending == 1
    assert failed.details[0].startswith("kto: ") and "axis 6" in failed.details[0]
    assert g9_mini_trains([]).passed is False


def test_g9_is_not_run_unless_asked(real_slice: Path, tiny_tokenizer_dir: Path) -> None:
    plain = check_config("tiny", tiny_tokenizer_dir)
    result = next(r for r in run_guardrails(load_bundle(real_slice, datasets=()), plain, ("G9",)))
    assert result.passed is None and "--no-g9" in result.reason
    assert check_config("tiny", tiny_tokenizer_dir, mini_train_data=real_slice).mini_trains is not None


def test_factory_refuses_a_trainer_without_eval_data(real_slice: Path, tiny_tokenizer_dir: Path) -> None:
    from canvas_pipeline.data.hf import to_dataset
    from canvas_pipeline.training.tokenizer import load_tokenizer

    method = METHODS["dpo"]
    data = load_method_data(real_slice, method, 8, 8, seed=0)
    train, evals = data.datasets()
    profile = mini_profile()
    common = {"model": None, "tokenizer": load_tokenizer(tiny_tokenizer_dir), "output_dir": Path("unused")}
    with pytest.raises(EvalDatasetError, match="non-empty eval_dataset"):
        build_trainer(method, profile, train_dataset=train, eval_dataset=None, item_ids=data.item_ids(), **common)
    with pytest.raises(EvalDatasetError, match="non-empty eval_dataset"):
        empty = to_dataset([], "preference")
        build_trainer(method, profile, train_dataset=train, eval_dataset=empty, item_ids=data.item_ids(), **common)
    leaked = {
        "train": data.item_ids()["train"],
        "test": data.item_ids()["test"] | {next(iter(data.item_ids()["train"]))},
    }
    with pytest.raises(EvalDatasetError, match="not item-disjoint"):
        build_trainer(method, profile, train_dataset=train, eval_dataset=evals, item_ids=leaked, **common)


def test_reference_log_probs_computed_once_judge_as_the_reference_model_does(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    """The mini-trains judge every preference method on the same pairs against the same
    start model, so its log-probs are computed once and handed on: the margins are the ones
    the reference model itself gives, and log-probs of other pairs are refused."""
    import torch

    from canvas_pipeline.training.model import load_model
    from canvas_pipeline.training.preference_eval import completion_logps, pair_examples, pair_margins
    from canvas_pipeline.training.tokenizer import load_tokenizer

    start = mini.save_start_model(tiny_tokenizer_dir, tmp_path / "start")
    policy, reference = load_model(start), load_model(start)
    torch.manual_seed(0)
    with torch.no_grad():  # the policy moved away from its reference
        for weight in policy.parameters():
            weight.add_(0.01 * torch.randn_like(weight))
    tokenizer = load_tokenizer(start)
    pairs = mini._mini_data(real_slice, "dpo", 0).eval_rows[:6]
    for per_token in (False, True):
        logps = completion_logps(reference, tokenizer, pair_examples(pairs), per_token=per_token)
        direct = pair_margins(policy, reference, tokenizer, pairs, 0.1, per_token)
        assert pair_margins(policy, None, tokenizer, pairs, 0.1, per_token, logps) == direct
        assert direct["all"]["margin"] != 0.0
    with pytest.raises(ValueError, match="10 reference log-probs for 12 completions"):
        pair_margins(policy, None, tokenizer, pairs, 0.1, False, logps[:10])
